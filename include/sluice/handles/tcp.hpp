// sluice — TCP streams and listeners.
#pragma once

#include <sluice/handles/listener.hpp>
#include <sluice/handles/resolve.hpp>

namespace sluice {

class tcp_stream : public stream {
  public:
    tcp_stream() noexcept = default;
    explicit tcp_stream(loop& l) : stream(l) {}
    explicit tcp_stream(detail::stream_impl* accepted) noexcept : stream(accepted) {}

    // Takes ownership of a connected socket made elsewhere (accepted on another thread,
    // inherited, or from another library) and runs it on `l`. The socket is made
    // non-blocking; it is closed if that fails.
    static tcp_stream adopt(loop& l, native_socket s, std::error_code& ec) {
        ec = platform::make_nonblocking(s);
        if (ec) {
            platform::close_socket(s);
            return tcp_stream();
        }
        return tcp_stream(detail::adopt_connected(l, s));
    }

    // Connects to the first address that accepts, trying them in order.
    template <class H>
    void connect(const endpoint& ep, H&& handler) {
        connect_to(std::vector<endpoint>{ep}, std::forward<H>(handler));
    }
    template <class H>
    void connect(std::vector<endpoint> candidates, H&& handler) {
        connect_to(std::move(candidates), std::forward<H>(handler));
    }
    // Resolves `host` on the thread pool, then connects with fallback.
    template <class H>
    void connect(std::string host, std::uint16_t port, H&& handler) {
        io_handler h = detail::ec_only(std::forward<H>(handler));
        if (auto ec = unusable()) return fail(std::move(h), ec);
        detail::stream_impl* s = impl_.get();
        resolve(*s->loop_, std::move(host), port,
                [s, keep = detail::ref<detail::stream_impl>(s),
                 h = std::move(h)](std::error_code ec, std::vector<endpoint> eps) mutable {
                    if (s->closed()) return h(make_error_code(error::operation_aborted), 0);
                    if (ec) return h(ec, 0);
                    s->start_connect(std::move(eps), std::move(h));
                });
    }

    std::error_code set_nodelay(bool on) {
        return platform::set_option(native_handle(), IPPROTO_TCP, TCP_NODELAY, on ? 1 : 0);
    }
    std::error_code set_keepalive(bool on) {
        return platform::set_option(native_handle(), SOL_SOCKET, SO_KEEPALIVE, on ? 1 : 0);
    }
};

class tcp_listener : public basic_listener<tcp_stream> {
  public:
    tcp_listener() noexcept = default;
    explicit tcp_listener(loop& l) : basic_listener(l) {}
    std::error_code listen(const endpoint& ep, const listen_options& opt = {}) {
        return open(ep, opt);
    }
};

} // namespace sluice
