// sluice — out-of-line bodies of sluice/handles/resolve.hpp: compiled in every translation unit
// when header-only, only in the SLUICE_IMPLEMENTATION one under SLUICE_SEPARATE_COMPILATION.
#pragma once

#include <sluice/handles/resolve.hpp>

namespace sluice {

SLUICE_DECL const std::error_category& resolver_category() noexcept {
    static const detail::resolver_category_impl instance;
    return instance;
}

SLUICE_DECL std::vector<endpoint> resolve_now(const std::string& host, std::uint16_t port,
                                              int socktype, std::error_code& ec) {
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

SLUICE_DECL void resolve(loop& l, std::string host, std::uint16_t port, resolve_handler handler,
                         int socktype) {
    detail::lookup_op::start(l, std::move(host), port, socktype, std::move(handler));
}
} // namespace sluice
