// sluice — out-of-line bodies of sluice/platform/endpoint.hpp: compiled in every translation unit
// when header-only, only in the SLUICE_IMPLEMENTATION one under SLUICE_SEPARATE_COMPILATION.
#pragma once

#include <sluice/platform/endpoint.hpp>

namespace sluice {
namespace platform {

SLUICE_DECL endpoint local_endpoint(native_socket s, std::error_code& ec) {
    endpoint ep;
    socklen_t len = endpoint::capacity();
    if (::getsockname(s, ep.data(), &len) != 0) {
        ec = last_error();
        return {};
    }
    ep.resize(len);
    ec.clear();
    return ep;
}

SLUICE_DECL endpoint remote_endpoint(native_socket s, std::error_code& ec) {
    endpoint ep;
    socklen_t len = endpoint::capacity();
    if (::getpeername(s, ep.data(), &len) != 0) {
        ec = last_error();
        return {};
    }
    ep.resize(len);
    ec.clear();
    return ep;
}
} // namespace platform
} // namespace sluice
