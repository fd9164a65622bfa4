// sluice — a socket address of any family (IPv4, IPv6, Unix path) in one value type.
// Unix paths exist where SLUICE_HAS_UNIX_SOCKETS is on (not on Windows).
#pragma once

#include <sluice/platform/socket.hpp>

#include <cstring>
#include <string>
#include <string_view>

namespace sluice {

class endpoint {
  public:
    endpoint() noexcept { std::memset(&storage_, 0, sizeof storage_); }
    endpoint(const sockaddr* sa, socklen_t len) noexcept : endpoint() {
        // socklen_t is unsigned on POSIX and int on Windows.
        if (static_cast<std::size_t>(len) > sizeof storage_) len = sizeof storage_;
        std::memcpy(&storage_, sa, static_cast<std::size_t>(len));
        len_ = len;
    }

    // Numeric addresses only ("127.0.0.1", "::1"); names go through resolve().
    static endpoint parse(std::string_view address, std::uint16_t port, std::error_code& ec) {
        endpoint ep;
        char buf[INET6_ADDRSTRLEN + 1];
        if (address.size() >= sizeof buf) {
            ec = std::make_error_code(std::errc::invalid_argument);
            return ep;
        }
        std::memcpy(buf, address.data(), address.size());
        buf[address.size()] = '\0';
        auto* v4 = reinterpret_cast<sockaddr_in*>(&ep.storage_);
        auto* v6 = reinterpret_cast<sockaddr_in6*>(&ep.storage_);
        if (::inet_pton(AF_INET, buf, &v4->sin_addr) == 1) {
            v4->sin_family = AF_INET;
            v4->sin_port = htons(port);
            ep.len_ = sizeof(sockaddr_in);
        } else if (::inet_pton(AF_INET6, buf, &v6->sin6_addr) == 1) {
            v6->sin6_family = AF_INET6;
            v6->sin6_port = htons(port);
            ep.len_ = sizeof(sockaddr_in6);
        } else {
            ec = std::make_error_code(std::errc::invalid_argument);
            return endpoint{};
        }
        ec.clear();
        return ep;
    }
    static endpoint parse(std::string_view address, std::uint16_t port) {
        std::error_code ec;
        return parse(address, port, ec);
    }

    static endpoint loopback_v4(std::uint16_t port) { return parse("127.0.0.1", port); }
    static endpoint loopback_v6(std::uint16_t port) { return parse("::1", port); }
    static endpoint any_v4(std::uint16_t port) { return parse("0.0.0.0", port); }

#if SLUICE_HAS_UNIX_SOCKETS
    // A filesystem path, or an abstract name on Linux when it starts with '\0'.
    static endpoint unix_path(std::string_view path, std::error_code& ec) {
        endpoint ep;
        auto* un = reinterpret_cast<sockaddr_un*>(&ep.storage_);
        if (path.empty() || path.size() >= sizeof un->sun_path) {
            ec = std::make_error_code(std::errc::filename_too_long);
            return ep;
        }
        un->sun_family = AF_UNIX;
        std::memcpy(un->sun_path, path.data(), path.size());
        ep.len_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() +
                                         (path[0] == '\0' ? 0 : 1));
        ec.clear();
        return ep;
    }
    static endpoint unix_path(std::string_view path) {
        std::error_code ec;
        return unix_path(path, ec);
    }
#endif

    int family() const noexcept { return storage_.ss_family; }
    bool valid() const noexcept { return len_ != 0; }
    std::uint16_t port() const noexcept {
        if (family() == AF_INET)
            return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
        if (family() == AF_INET6)
            return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
        return 0;
    }
    void set_port(std::uint16_t port) noexcept {
        if (family() == AF_INET) reinterpret_cast<sockaddr_in*>(&storage_)->sin_port = htons(port);
        if (family() == AF_INET6)
            reinterpret_cast<sockaddr_in6*>(&storage_)->sin6_port = htons(port);
    }

    std::string address() const {
        char buf[INET6_ADDRSTRLEN] = {};
        if (family() == AF_INET)
            ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, buf,
                        sizeof buf);
        else if (family() == AF_INET6)
            ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, buf,
                        sizeof buf);
#if SLUICE_HAS_UNIX_SOCKETS
        else if (family() == AF_UNIX) {
            auto* un = reinterpret_cast<const sockaddr_un*>(&storage_);
            std::size_t n =
                len_ > offsetof(sockaddr_un, sun_path) ? len_ - offsetof(sockaddr_un, sun_path) : 0;
            std::string p(un->sun_path, n);
            while (!p.empty() && p.back() == '\0') p.pop_back();
            return p;
        }
#endif
        return buf;
    }
    std::string to_string() const {
        if (family() == AF_INET6) return "[" + address() + "]:" + std::to_string(port());
        if (family() == AF_INET) return address() + ":" + std::to_string(port());
        return address();
    }

    const sockaddr* data() const noexcept { return reinterpret_cast<const sockaddr*>(&storage_); }
    sockaddr* data() noexcept { return reinterpret_cast<sockaddr*>(&storage_); }
    socklen_t size() const noexcept { return len_; }
    void resize(socklen_t n) noexcept { len_ = n; }
    static constexpr socklen_t capacity() noexcept { return sizeof(sockaddr_storage); }

    friend bool operator==(const endpoint& a, const endpoint& b) noexcept {
        return a.len_ == b.len_ && std::memcmp(&a.storage_, &b.storage_, a.len_) == 0;
    }
    friend bool operator!=(const endpoint& a, const endpoint& b) noexcept { return !(a == b); }

  private:
    sockaddr_storage storage_;
    socklen_t len_ = 0;
};

namespace platform {
SLUICE_DECL endpoint local_endpoint(native_socket s, std::error_code& ec);
SLUICE_DECL endpoint remote_endpoint(native_socket s, std::error_code& ec);
} // namespace platform

} // namespace sluice

#if SLUICE_COMPILE_BODIES
#include <sluice/platform/impl/endpoint.ipp>
#endif
