// sluice — what every connection of one http::server shares: the settings, the
// handlers, the listener, the connection list, and the buffers lent to one connection at
// a time. Part of <sluice/http/server.hpp>; include that one.
#pragma once

#include <sluice/handles/tcp.hpp>
#include <sluice/handles/timer.hpp>
#include <sluice/http/message.hpp>
#include <sluice/http/parser.hpp>
#include <sluice/http/serializer.hpp>
#include <sluice/util/function.hpp>
#include <sluice/util/ref.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice {
namespace http {

struct server_settings {
    // From the first byte of a request to the end of its head (slowloris): 408 + close.
    std::chrono::milliseconds header_timeout{10000};
    // A keep-alive connection with no request in progress, or a request body that
    // makes no progress while it is being read, for that long is closed.
    std::chrono::milliseconds idle_timeout{60000};
    // Queued response bytes that make no progress for that long close the
    // connection (0 = off; costs the stream's timeout state per connection).
    std::chrono::milliseconds write_timeout{0};
    // After the last response of a closing connection: how long to keep reading
    // (and discarding) so the peer sees the response rather than a reset.
    std::chrono::milliseconds linger_timeout{2000};
    std::size_t max_connections = 10000;
    // Requests received but not yet answered, per connection, before reading pauses.
    std::size_t max_pipelined = 64;
    // The largest body on_request() buffers whole (and body_reader::read_all without
    // a limit). A larger Content-Length is answered 413 before any of the body is read; a
    // chunked body is answered 413 as soon as it passes the limit. Bodies streamed with
    // on_request_stream() are bounded by limits.max_body only.
    std::size_t max_buffered_body = std::size_t(1) << 20;
    // A streamed body the handler leaves unread (its body_reader destroyed before the end)
    // is read and dropped up to this many more bytes, so that the connection can take the
    // next request; past it the connection closes after the response instead. A response
    // given while more than this is known to be unread says Connection: close. 0: always
    // close.
    std::size_t max_discarded_body = 256 * 1024;
    http::limits limits{}; // head, request line, header count, every body's size
    std::string server_name = "sluice";
    sluice::write_limits write{};
    // Every connection starts with a PROXY protocol header (v1 or v2, from HAProxy,
    // nginx's stream module, a cloud load balancer), read before HTTP within the
    // header timeout; request_view::client() is then the client it reports. A
    // connection without a valid header is closed. Turn on only when every connection
    // comes through such a proxy: whoever reaches the port directly can claim any address.
    bool proxy_protocol = false;
};

class response;
class body_reader;

namespace detail {
class server_session;
class server_core;
using sluice::detail::make_ref;
using sluice::detail::ref;
using sluice::detail::ref_counted;
} // namespace detail

// The request as parsed: views into the connection's buffers, valid only during the
// handler call (copy what an asynchronous answer needs).
class request_view {
  public:
    request_view(const message& m, std::string_view body,
                 const detail::server_session* session = nullptr) noexcept
        : m_(&m), body_(body), session_(session) {}

    std::string_view method() const noexcept { return m_->method; }
    http::verb verb() const noexcept { return m_->verb; }
    std::string_view target() const noexcept { return m_->target; }
    // The target up to '?', and the query after it (without the '?').
    std::string_view path() const noexcept { return m_->target.substr(0, query_pos()); }
    std::string_view query() const noexcept {
        std::size_t q = query_pos();
        return q < m_->target.size() ? m_->target.substr(q + 1) : std::string_view();
    }
    unsigned version_minor() const noexcept { return m_->version_minor; }
    bool keep_alive() const noexcept { return m_->keep_alive(); }
    const header* begin() const noexcept { return m_->begin(); }
    const header* end() const noexcept { return m_->end(); }
    std::string_view get(std::string_view name) const noexcept { return m_->get(name); }
    const header* find(std::string_view name) const noexcept { return m_->find(name); }
    // The whole body for on_request(); empty for on_request_stream() (read it from the
    // body_reader).
    std::string_view body() const noexcept { return body_; }
    const message& msg() const noexcept { return *m_; }
    // The client's address: the source of the connection's PROXY header when
    // server_settings::proxy_protocol is on and the header named one (not LOCAL or
    // UNKNOWN), else the peer of the TCP connection (a getpeername() call).
    SLUICE_DECL endpoint client() const;

  private:
    friend body_reader bodiless_body(const request_view& req);
    std::size_t query_pos() const noexcept {
        std::size_t q = m_->target.find('?');
        return q == std::string_view::npos ? m_->target.size() : q;
    }
    const message* m_;
    std::string_view body_;
    const detail::server_session* session_;
};

namespace detail {

// Defined with the session (impl/server.hpp). A template only so that the core's
// virtual function may name it here without its definition.
template <class Core>
void core_loop_exit(Core& c) noexcept;

// A buffer lent to one connection for the length of one use (a parsing pass, one
// response head) and given back. The borrower owns it while it has it (it was moved
// out), so two connections can never write into the same one; the core keeps the last
// one given back, so the usual case allocates nothing. Contents are not cleared: the
// borrower starts by overwriting (or clearing) what it uses.
template <class Buf>
class spare {
  public:
    Buf take() { return std::exchange(kept_, Buf()); }
    void give(Buf&& b) {
        if (b.capacity() >= kept_.capacity()) kept_ = std::move(b);
    }

  private:
    Buf kept_;
};

// Shared by the server handle, every session (each holds a reference), the listener's
// accept handler and the grace timer's handler while they can run, and the
// connection_slot of each handed-over connection. A loop resident: if the loop is
// destroyed first, its connections are closed silently and loop_ becomes null.
struct body_state; // body.hpp

class server_core final : public ref_counted<server_core>, public sluice::detail::loop_resident {
  public:
    using handler_type = unique_function<void(const request_view&, response&)>;
    using stream_handler_type = unique_function<void(const request_view&, body_reader&, response&)>;

    server_core(loop& l, server_settings s)
        : loop_(&l), settings_(std::move(s)), listener_(l),
          max_headers_(settings_.limits.max_headers ? settings_.limits.max_headers : 1) {
        l.add_resident(this);
    }
    ~server_core() {
        if (loop_) loop_->remove_resident(this);
        if (spare_body_) free_spare_body_(spare_body_);
    }

    void on_loop_exit() noexcept override { core_loop_exit(*this); }

    loop* loop_; // null once the loop is gone
    server_settings settings_;
    tcp_listener listener_;
    // Each is moved out for the length of its call, so that replacing or releasing it
    // from inside never destroys the running one.
    handler_type handler_;
    stream_handler_type stream_handler_;
    // With stream_handler_: takes the requests without a body instead, on the buffered
    // path (server::on_request_stream's two-handler form).
    handler_type bodiless_handler_;
    std::size_t max_headers_;
    spare<std::string> batch_spare_; // a pass's gathered output
    // A response head being built: used only inside response::end()/write() between
    // build_head() and emit(), which run no user code, so one buffer serves everyone.
    std::string head_scratch_;
    spare<std::vector<header>> headers_spare_;
    // A streamed handler's bodiless request left its body state unshared: the next one
    // takes it instead of allocating (a router serves every request through that path).
    // Parked without its core reference, so nothing cycles.
    body_state* spare_body_ = nullptr;
    // Frees spare_body_; set where body_state is complete (this header only declares it).
    void (*free_spare_body_)(body_state*) noexcept = nullptr;
    date_cache dates_;
    // "HTTP/1.1 200 OK", Server and Date, the start of most responses: serialized and
    // checked when the date changes (at most once a second) instead of per response.
    std::string ok_head_;
    std::uint64_t ok_head_date_ = ~std::uint64_t(0);
    bool ok_head_valid_ = false;
    bool stopping_ = false;              // stop(), close() or the server handle is gone
    bool gone_ = false;                  // the server handle is gone: its handlers never run again
    server_session* sessions_ = nullptr; // intrusive list; it holds one reference each
    // Open sessions plus handed-over connections whose connection_slot lives.
    std::size_t count_ = 0;
    std::size_t rejected_ = 0;
    std::uint64_t requests_ = 0;
    sluice::timer grace_timer_;

    SLUICE_DECL const std::string* ok_head();

    SLUICE_DECL std::vector<header> take_headers();
    // A fresh body state for a request of this core: the parked one, or a new one.
    SLUICE_DECL ref<body_state> take_body_state();
    // Parks `b` for the next request when nobody else holds it (else just drops it).
    SLUICE_DECL void give_body_state(ref<body_state> b) noexcept;

    SLUICE_DECL void accept(tcp_stream st);
    // Closes every session now; notify: call the on_close callbacks of unfinished
    // responses (close(), the grace timer) or destroy them uncalled (the server is gone).
    SLUICE_DECL void close_all(bool notify);
    SLUICE_DECL void link(server_session* s);
    SLUICE_DECL void unlink(server_session* s, bool keep_count);
};

} // namespace detail
} // namespace http
} // namespace sluice

#if SLUICE_COMPILE_BODIES
#include <sluice/http/impl/core.ipp>
#endif
