// sluice — a minimal HTTP/1.1 client for simple requests: one request per
// connection (Connection: close), the whole response collected in memory up to a
// limit, a timeout for the whole exchange. For health checks, tests and tools.
// https:// runs over TLS made by request_options::tls (e.g. a tls::openssl::client_context,
// which verifies the server for the URL's host and sends it as SNI); without one, https://
// fails with std::errc::protocol_not_supported.
#pragma once

#include <sluice/handles/tcp.hpp>
#include <sluice/handles/tls.hpp>
#include <sluice/handles/timer.hpp>
#include <sluice/http/parser.hpp>
#include <sluice/http/serializer.hpp>
#include <sluice/util/ref.hpp>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace sluice::http {

struct client_response {
    unsigned status = 0;
    std::string reason;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;

    // The first header of that name (case-insensitive), or an empty view.
    std::string_view get(std::string_view name) const noexcept {
        for (auto& h : headers)
            if (detail::iequals(h.first, name)) return h.second;
        return {};
    }
};

struct request_options {
    std::string method = "GET";
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;                            // sent with Content-Length when non-empty
    // The whole response held in memory (head, body as collected, bytes not yet parsed);
    // fetch fails with body_too_large as soon as it would go past.
    std::size_t max_response = 16 * 1024 * 1024;
    // resolve + connect + TLS handshake + request + response
    std::chrono::milliseconds timeout{30000};
    std::shared_ptr<tls::context> tls;           // for https:// URLs
};

using fetch_handler = unique_function<void(std::error_code, client_response)>;

namespace detail {

struct url_parts {
    std::string host;
    std::uint16_t port = 80; // 443 for https:// without a port
    std::string target = "/";
    bool secure = false; // https://
};

// "http[s]://host[:port][/path[?query]]", host may be [IPv6].
// The Host header's value: the port only when it is not the scheme's own.
SLUICE_DECL std::string authority_of(const url_parts& u);
SLUICE_DECL bool split_url(std::string_view url, url_parts& out);

// One fetch. Counted (detail::ref_counted): every handler it gives the timer, the stream
// or the loop holds a reference, never `this` raw, so the operation lives until the last of
// them has run or been dropped, whatever finishes it first (the timeout may expire while
// name resolution is still queued on the thread pool).
class fetch_op final : public sluice::detail::ref_counted<fetch_op> {
  public:
    using op_ref = sluice::detail::ref<fetch_op>;

    fetch_op(loop& l, request_options opt, fetch_handler h)
        : stream_(l), timer_(l), opt_(std::move(opt)), handler_(std::move(h)),
          parser_(parser::response, msg_) {}

    SLUICE_DECL void start(const url_parts& u);

  private:
    // Bytes of the response held now: its head, the body collected, what is not parsed yet.
    std::size_t held() const noexcept { return head_bytes_ + res_.body.size() + buf_.size(); }

    SLUICE_DECL void on_data(std::error_code ec, std::string_view data);

    SLUICE_DECL void finish(std::error_code ec);

    tcp_stream stream_;
    timer timer_;
    request_options opt_;
    fetch_handler handler_; // empty once finished
    message_storage<64> msg_;
    parser parser_;
    std::string request_, buf_;
    client_response res_;
    std::size_t head_bytes_ = 0; // of the response being collected
};

} // namespace detail

// GET (or opt.method) `url`; handler(ec, response) runs once on the loop thread.
// Any status is a success at this level: check response.status.
SLUICE_DECL void fetch(loop& l, std::string_view url, request_options opt, fetch_handler handler);
SLUICE_DECL void fetch(loop& l, std::string_view url, fetch_handler handler);

} // namespace sluice::http

#if SLUICE_COMPILE_BODIES
#include <sluice/http/impl/client.ipp>
#endif
