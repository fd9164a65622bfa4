// sluice — WebSocket server: turns upgrade requests of an http::server into connections.
//
//     sluice::http::server http(loop);
//     sluice::ws::server ws(loop);
//     ws.on_message([](ws::connection& c, const ws::message& m) { c.send(m.op, m.data); });
//     http.on_request([&](const http::request_view& req, http::response& res) {
//         if (req.path() == "/ws") ws.upgrade(req, res); else res.status(404).end();
//     });
//
// Why the WebSocket server rides on the HTTP one instead of listening itself: a real
// service serves its page, health checks and API on the same port as its WebSockets, and
// the HTTP server already enforces the head limits and timeouts that a handshake needs.
// upgrade() validates the handshake (RFC 6455 §4.2.1), answers it (101, or 400/403/405/426
// with the reason), and takes the TCP stream over; from then on the http::server no longer
// reads or writes the connection, but still counts it in connections() and against its
// max_connections until the WebSocket connection ends.
//
// Destroying a ws::server ends its open connections at once: each gets a 1001 (going away)
// close frame if the kernel takes it right away, then its TCP connection is closed without
// waiting for the peer's answer (call close_all() and let the loop run first for a graceful
// close handshake). None of the server's handlers runs afterwards, on_close included; a
// read pending on one of its connections (ws::read) completes with operation_aborted, from
// the loop. Handles to those connections stay valid and report !is_open().
#pragma once

#include <sluice/http/server.hpp>
#include <sluice/ws/connection.hpp>
#include <sluice/ws/handshake.hpp>

#include <memory>
#include <string>
#include <type_traits>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice {
namespace ws {

class server {
  public:
    explicit server(loop& l, settings s = {})
        : sh_(sluice::detail::make_ref<detail::shared_state>(l, std::move(s))) {}
    // Ends the open connections (see the top of this file); no handler runs afterwards.
    ~server() { sh_->end_for_owner(); }
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    SLUICE_DECL server& on_open(unique_function<void(connection&)> f);
    // Without an on_message handler, connections are read by pulling (read()).
    SLUICE_DECL server& on_message(unique_function<void(connection&, const message&)> f);
    SLUICE_DECL server& on_ping(unique_function<void(connection&, std::string_view)> f);
    SLUICE_DECL server& on_pong(unique_function<void(connection&, std::string_view)> f);
    SLUICE_DECL server& on_close(unique_function<void(connection&, const close_status&)> f);

    // Settings apply to connections upgraded after the change.
    settings& config() noexcept { return sh_->cfg; }
    // Subprotocols spoken, most preferred first (the first one the client offers wins).
    std::vector<std::string>& subprotocols() noexcept { return protocols_; }
    // Return false to refuse a handshake from that Origin with 403 (empty: no Origin sent).
    void check_origin(unique_function<bool(std::string_view origin)> f) { origin_ = std::move(f); }

    // Answers the request: a WebSocket handshake becomes an open connection (on_open has run
    // when this returns); anything else is answered with the handshake's error status and
    // an empty connection is returned (*ec says why).
    connection upgrade(const http::request_view& req, http::response& res,
                       std::error_code* ec = nullptr) {
        return upgrade_with(req, res, nullptr, ec);
    }
    // The same, giving the connection data of the application's own, made from the request
    // (its path, headers, query): `data` is moved into the connection before on_open runs,
    // conn.data<T>() returns it (null for any other T), and it is destroyed when the
    // connection ends, after on_close. Nothing is kept when the handshake fails.
    //     struct member { std::string room, name; };
    //     ws.upgrade(req, res, member{std::string(req.path().substr(4)), "guest"});
    //     ... conn.data<member>()->room
    template <class T, class D = std::decay_t<T>,
              class = std::enable_if_t<!std::is_pointer<D>::value && !std::is_null_pointer<D>::value>>
    connection upgrade(const http::request_view& req, http::response& res, T&& data,
                       std::error_code* ec = nullptr) {
        return upgrade_with(req, res,
                            std::unique_ptr<detail::data_box>(
                                new detail::data_box_of<D>(std::forward<T>(data))),
                            ec);
    }

    // Sends one message to every open connection, encoded once and shared (no copy per
    // connection). Returns how many connections took it (those closing, or whose queue is
    // at its hard cap, are skipped).
    SLUICE_DECL std::size_t broadcast(opcode op, const void* data, std::size_t n);
    std::size_t broadcast_text(std::string_view s) {
        return broadcast(opcode::text, s.data(), s.size());
    }
    SLUICE_DECL std::size_t broadcast(const prepared_message& pm);

    // Topics (rooms, channels): connection::subscribe(topic) joins one, a connection leaves
    // all of its topics when it ends. publish() sends one message to every subscriber of a
    // topic, encoded once and shared (no copy per subscriber), in subscription order for
    // none in particular; its cost is linear in that topic's subscribers. Returns how many
    // took it: a subscriber at its send limit does not (settings::on_send_limit), and 0 when
    // the topic has none or a text message is not UTF-8.
    SLUICE_DECL std::size_t publish(std::string_view topic, opcode op, const void* data,
                                    std::size_t n);
    std::size_t publish(std::string_view topic, std::string_view text) {
        return publish(topic, opcode::text, text.data(), text.size());
    }
    SLUICE_DECL std::size_t publish(std::string_view topic, const prepared_message& pm);
    // Subscribers of one topic; topics that have any.
    SLUICE_DECL std::size_t subscribers(std::string_view topic) const noexcept;
    std::size_t topics() const noexcept { return sh_->topics.size(); }

    // f(connection&) for each open connection; f may close the one it is given.
    template <class F>
    void for_each(F&& f) {
        connection cur(sh_->first);
        while (cur) {
            connection next(cur.impl()->next); // counted: f may end it too
            f(cur);
            cur = std::move(next);
        }
    }

    // Starts the close handshake on every open connection (e.g. 1001 on shutdown).
    void close_all(std::uint16_t code = close_code::going_away, std::string_view reason = {}) {
        for_each([&](connection& c) { c.close(code, reason); });
    }

    std::size_t size() const noexcept { return sh_->open; }
    // Heap bytes the open connections hold for incoming data (see
    // connection::receive_buffer_bytes()), plus the reassembly buffers kept for reuse.
    SLUICE_DECL std::size_t receive_buffer_bytes() const noexcept;

  private:
    SLUICE_DECL connection upgrade_with(const http::request_view& req, http::response& res,
                                        std::unique_ptr<detail::data_box> data,
                                        std::error_code* ec);

    sluice::detail::ref<detail::shared_state> sh_;
    std::vector<std::string> protocols_;
    unique_function<bool(std::string_view)> origin_;
};

} // namespace ws
} // namespace sluice

#if SLUICE_COMPILE_BODIES
#include <sluice/ws/impl/server.ipp>
#endif
