// sluice — Unix domain stream sockets. The listener does not remove an existing
// socket file: binding over one fails with address_in_use, so two servers never
// silently steal each other's path; remove stale files yourself.
#pragma once

#include <sluice/handles/listener.hpp>

#if SLUICE_HAS_UNIX_SOCKETS
namespace sluice {

class unix_stream : public stream {
  public:
    unix_stream() noexcept = default;
    explicit unix_stream(loop& l) : stream(l) {}
    explicit unix_stream(detail::stream_impl* accepted) noexcept : stream(accepted) {}

    template <class H>
    void connect(const endpoint& path, H&& handler) {
        connect_to(std::vector<endpoint>{path}, std::forward<H>(handler), connect_options{});
    }
};

class unix_listener : public basic_listener<unix_stream> {
  public:
    unix_listener() noexcept = default;
    explicit unix_listener(loop& l) : basic_listener(l) {}
    std::error_code listen(const endpoint& path, int backlog = 511) {
        listen_options opt;
        opt.backlog = backlog;
        return open(path, opt);
    }
};

} // namespace sluice
#endif
