// sluice — WebSocket client: dials ws://host[:port]/path and hands back a connection.
//
//     ws::handlers h;
//     h.on_open = [](ws::connection& c) { c.send_text("hello"); };
//     h.on_message = [](ws::connection& c, const ws::message& m) { c.close(); };
//     ws::connection c = ws::connect(loop, "ws://127.0.0.1:9000/chat", std::move(h));
//
// The returned connection is usable at once for bookkeeping; it sends nothing until on_open.
// A dial that fails (name, connect, handshake, timeout) reports through on_close with 1006
// and the error, so every connect() ends in exactly one of on_open or on_close... and an
// opened one in on_close later. Frames are masked with a fresh key each (RFC 6455 §5.3).
// wss:// runs over TLS made by client_options::tls (e.g. a tls::openssl::client_context,
// which verifies the server for the URL's host); without one, wss:// is refused with
// std::errc::protocol_not_supported.
#pragma once

#include <sluice/handles/tcp.hpp>
#include <sluice/handles/tls.hpp>
#include <sluice/handles/timer.hpp>
#include <sluice/http/client.hpp>
#include <sluice/http/parser.hpp>
#include <sluice/ws/connection.hpp>
#include <sluice/ws/handshake.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice {
namespace ws {

struct client_options {
    ws::settings settings{};
    std::string origin;                                       // sent as Origin when non-empty
    std::vector<std::string> subprotocols;                    // offered, in preference order
    std::vector<std::pair<std::string, std::string>> headers; // extra request headers
    std::chrono::milliseconds handshake_timeout{10000};       // resolve + connect + handshake
    std::shared_ptr<tls::context> tls;                        // for wss:// URLs
};

namespace detail {

// One dial: resolve, connect, handshake, then the connection opens (or fails). Counted:
// each handler it gives the stream, the timer or the loop holds a reference, so it lives
// exactly as long as one of them can still run.
class dial final : public sluice::detail::ref_counted<dial> {
  public:
    using dial_ref = sluice::detail::ref<dial>;

    SLUICE_DECL dial(loop& l, handlers h, client_options o);
    dial(const dial&) = delete;
    dial& operator=(const dial&) = delete;

    connection handle() const { return connection(conn_.get()); }

    SLUICE_DECL void start(std::string_view url);

  private:
    void later(std::error_code ec) {
        sh_->lp->defer([d = dial_ref(this), ec] { d->finish(ec); });
    }

    SLUICE_DECL void on_data(std::error_code ec, std::string_view d);

    SLUICE_DECL void finish(std::error_code ec, std::string rest = {});

    timer timer_;
    client_options opt_;
    sluice::detail::ref<shared_state> sh_;
    conn_ref conn_; // until finish()
    client_config cfg_;
    std::vector<std::string_view> offered_;
    std::string key_, request_, buf_;
    http::message_storage<64> msg_;
    http::parser parser_;
    bool done_ = false;
};

} // namespace detail

// Dials a WebSocket server; see the top of this file.
SLUICE_DECL connection connect(loop& l, std::string_view url, handlers h, client_options opt = {});

} // namespace ws
} // namespace sluice

#if SLUICE_COMPILE_BODIES
#include <sluice/ws/impl/client.ipp>
#endif
