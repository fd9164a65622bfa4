// sluice — name resolution. getaddrinfo blocks, so it runs on the thread pool and
// the handler runs back on the loop thread.
#pragma once

#include <sluice/handles/handle.hpp>
#include <sluice/platform/endpoint.hpp>

#include <string>
#include <vector>

namespace sluice {

namespace detail {
class resolver_category_impl final : public std::error_category {
  public:
    const char* name() const noexcept override { return "sluice.resolver"; }
#if defined(SLUICE_WINDOWS)
    // getaddrinfo returns WSA codes there; MinGW's gai_strerror writes a static buffer.
    std::string message(int ev) const override { return platform::win32_message(ev); }
    std::error_condition default_error_condition(int ev) const noexcept override {
        return platform::win32_category().default_error_condition(ev);
    }
#else
    std::string message(int ev) const override { return ::gai_strerror(ev); }
#endif
};
} // namespace detail

inline const std::error_category& resolver_category() noexcept {
    static const detail::resolver_category_impl instance;
    return instance;
}

using resolve_handler = unique_function<void(std::error_code, std::vector<endpoint>)>;

// Blocking; prefer resolve() on a loop.
inline std::vector<endpoint> resolve_now(const std::string& host, std::uint16_t port, int socktype,
                                         std::error_code& ec) {
    std::vector<endpoint> out;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = socktype;
#if defined(SLUICE_WINDOWS)
    // No AI_ADDRCONFIG: Windows does not count loopback as configured, so on a host
    // without a network even "localhost" would fail to resolve.
    if ((ec = platform::winsock_start())) return out;
#else
    hints.ai_flags = AI_ADDRCONFIG;
#endif
    addrinfo* res = nullptr;
    std::string service = std::to_string(port);
    int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &res);
    if (rc != 0) {
#if defined(EAI_SYSTEM)
        if (rc == EAI_SYSTEM) {
            ec = platform::last_error();
            return out;
        }
#endif
        ec = std::error_code(rc, resolver_category());
        return out;
    }
    for (addrinfo* ai = res; ai; ai = ai->ai_next)
        out.emplace_back(ai->ai_addr, static_cast<socklen_t>(ai->ai_addrlen));
    ::freeaddrinfo(res);
    ec = out.empty() ? make_error_code(error::resolve_failed) : std::error_code{};
    return out;
}

// Resolves on the thread pool; handler(ec, addresses) runs on the loop thread.
inline void resolve(loop& l, std::string host, std::uint16_t port, resolve_handler handler,
                    int socktype = SOCK_STREAM) {
    struct result {
        std::error_code ec;
        std::vector<endpoint> addresses;
    };
    auto r = std::make_shared<result>();
    l.offload(
        [r, host = std::move(host), port, socktype] {
            r->addresses = resolve_now(host, port, socktype, r->ec);
        },
        [r, handler = std::move(handler)]() mutable { handler(r->ec, std::move(r->addresses)); });
}

} // namespace sluice
