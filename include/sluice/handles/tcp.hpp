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

    // Connects to the first of the addresses that accepts (Happy Eyeballs: IPv6 first,
    // the next address tried in parallel after opt.attempt_delay; see connect.hpp).
    // handler(error_code) runs once, from the loop. A connect while one is in progress
    // fails with error::in_progress and disturbs nothing.
    template <class H>
    void connect(const endpoint& ep, H&& handler, const connect_options& opt = {}) {
        connect_to(std::vector<endpoint>{ep}, std::forward<H>(handler), opt);
    }
    template <class H>
    void connect(std::vector<endpoint> candidates, H&& handler, const connect_options& opt = {}) {
        connect_to(std::move(candidates), std::forward<H>(handler), opt);
    }
    // Resolves `host` on the thread pool, then connects as above. close(), cancel_connect()
    // and opt.timeout end it at once, also while the lookup still runs.
    template <class H>
    void connect(std::string host, std::uint16_t port, H&& handler,
                 const connect_options& opt = {}) {
        io_handler h = detail::ec_only(std::forward<H>(handler));
        if (auto ec = cannot_connect()) return fail(std::move(h), ec);
        impl_->start_connect(std::move(host), port, std::move(h), opt);
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
