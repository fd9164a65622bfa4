// sluice — out-of-line bodies of sluice/http/forwarded.hpp: compiled in every translation unit when
// header-only, only in the SLUICE_IMPLEMENTATION one under SLUICE_SEPARATE_COMPILATION.
#pragma once

#include <sluice/http/forwarded.hpp>

namespace sluice {
namespace http {

SLUICE_DECL const std::error_category& forwarded_category() noexcept {
    static const detail::forwarded_category_impl cat;
    return cat;
}

SLUICE_DECL std::error_code make_error_code(forwarded_error e) noexcept {
    return std::error_code(static_cast<int>(e), forwarded_category());
}
} // namespace http
} // namespace sluice

namespace sluice {
namespace http {
namespace detail {

SLUICE_DECL bool is_obfuscated_id(std::string_view s) noexcept {
    if (s.size() < 2 || s[0] != '_') return false;
    for (char c : s.substr(1)) {
        const bool alnum = (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
        if (!alnum && c != '.' && c != '_' && c != '-') return false;
    }
    return true;
}

SLUICE_DECL std::error_code parse_node(std::string_view s, forwarded_node& out, bool xff) noexcept {
    out = forwarded_node();
    std::string_view name = s, port;
    bool bracketed = false;
    if (!s.empty() && s[0] == '[') {
        std::size_t close = s.find(']');
        if (close == std::string_view::npos) return forwarded_error::bad_node;
        name = s.substr(1, close - 1);
        bracketed = true;
        std::string_view after = s.substr(close + 1);
        if (!after.empty()) {
            if (after[0] != ':') return forwarded_error::bad_node;
            port = after.substr(1);
            if (port.empty()) return forwarded_error::bad_port;
        }
    } else {
        std::size_t colon = s.find(':');
        if (colon != std::string_view::npos && !(xff && s.find(':', colon + 1) != s.npos)) {
            name = s.substr(0, colon);
            port = s.substr(colon + 1);
            if (port.empty()) return forwarded_error::bad_port;
        }
    }
    std::uint8_t v4[4], v6[16];
    if (bracketed || (xff && name.find(':') != std::string_view::npos)) {
        if (!sluice::detail::parse_ipv6_text(name, v6)) return forwarded_error::bad_node;
        out.type = forwarded_node::kind::ipv6;
    } else if (sluice::detail::parse_ipv4_text(name, v4)) {
        out.type = forwarded_node::kind::ipv4;
    } else if (iequals(name, "unknown")) {
        out.type = forwarded_node::kind::unknown;
    } else if (!xff && is_obfuscated_id(name)) {
        out.type = forwarded_node::kind::obfuscated;
    } else {
        return forwarded_error::bad_node;
    }
    out.name = name;
    if (!port.empty()) {
        // RFC 7239: port = 1*5DIGIT, so leading zeros are allowed there.
        if (!xff && is_obfuscated_id(port)) {
            out.port = port;
        } else if (sluice::detail::parse_port_text(port, out.port_number, !xff)) {
            out.port = port;
        } else {
            return forwarded_error::bad_port;
        }
    }
    return {};
}

SLUICE_DECL bool is_scheme(std::string_view s) noexcept {
    if (s.empty() || (s[0] | 0x20) < 'a' || (s[0] | 0x20) > 'z') return false;
    for (char c : s) {
        const bool alnum = (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
        if (!alnum && c != '+' && c != '-' && c != '.') return false;
    }
    return true;
}

SLUICE_DECL bool is_host(std::string_view s) noexcept {
    std::string_view name = s, port;
    if (!s.empty() && s[0] == '[') {
        std::size_t close = s.find(']');
        std::uint8_t v6[16];
        if (close == std::string_view::npos ||
            !sluice::detail::parse_ipv6_text(s.substr(1, close - 1), v6))
            return false;
        name = {};
        port = s.substr(close + 1);
    } else {
        std::size_t colon = s.find(':');
        if (colon != std::string_view::npos) {
            name = s.substr(0, colon);
            port = s.substr(colon);
        }
        if (name.empty()) return false;
        for (std::size_t i = 0; i < name.size(); ++i) {
            const char c = name[i];
            if (c == '%') {
                if (i + 2 >= name.size() || hexval(static_cast<unsigned char>(name[i + 1])) < 0 ||
                    hexval(static_cast<unsigned char>(name[i + 2])) < 0)
                    return false;
                i += 2;
                continue;
            }
            if (c == ':' || c == '[' || c == ']' || !has(static_cast<unsigned char>(c), c_host))
                return false;
        }
    }
    if (port.empty()) return true;
    std::uint16_t p = 0;
    return port[0] == ':' && sluice::detail::parse_port_text(port.substr(1), p, true);
}
} // namespace detail
} // namespace http
} // namespace sluice

namespace sluice {
namespace http {

SLUICE_DECL std::error_code xff_count(std::string_view value, std::size_t& n) noexcept {
    n = 0;
    return detail::for_each_xff_entry(value, [&](const forwarded_node&) { ++n; });
}

SLUICE_DECL std::error_code xff_from_right(std::string_view value, std::size_t n,
                                           forwarded_node& out) noexcept {
    out = forwarded_node();
    std::size_t count = 0;
    if (std::error_code ec = xff_count(value, count)) return ec;
    if (n >= count) return forwarded_error::too_few_hops;
    std::size_t i = 0;
    (void)detail::for_each_xff_entry(value, [&](const forwarded_node& node) {
        if (i++ == count - 1 - n) out = node;
    });
    return {};
}

SLUICE_DECL std::error_code xff_client(std::string_view value, forwarded_node& out) noexcept {
    std::size_t count = 0;
    if (std::error_code ec = xff_count(value, count)) return ec;
    return xff_from_right(value, count - 1, out);
}

SLUICE_DECL void append_xff(std::string& value, const endpoint& hop) {
    if (!value.empty()) value += ", ";
    if (hop.family() == AF_INET || hop.family() == AF_INET6)
        value += hop.address();
    else
        value += "unknown";
}

SLUICE_DECL std::error_code forwarded_count(std::string_view value, std::size_t& n) noexcept {
    n = 0;
    return for_each_forwarded(value, [&](const forwarded_element&) { ++n; });
}

SLUICE_DECL std::error_code forwarded_from_right(std::string_view value, std::size_t n,
                                                 forwarded_element& out) noexcept {
    out = forwarded_element();
    std::size_t count = 0;
    if (std::error_code ec = forwarded_count(value, count)) return ec;
    if (n >= count) return forwarded_error::too_few_hops;
    std::size_t i = 0;
    (void)for_each_forwarded(value, [&](const forwarded_element& el) {
        if (i++ == count - 1 - n) out = el;
    });
    return {};
}

SLUICE_DECL std::error_code forwarded_first(std::string_view value,
                                            forwarded_element& out) noexcept {
    std::size_t count = 0;
    if (std::error_code ec = forwarded_count(value, count)) return ec;
    return forwarded_from_right(value, count - 1, out);
}

SLUICE_DECL std::error_code append_forwarded(std::string& value, const endpoint& client,
                                             std::string_view proto, std::string_view host,
                                             bool with_port) {
    if (!proto.empty() && !detail::is_scheme(proto)) return forwarded_error::bad_proto;
    if (!host.empty() && !detail::is_host(host)) return forwarded_error::bad_host;
    if (!value.empty()) value += ", ";
    value += "for=";
    const int f = client.family();
    if (f != AF_INET && f != AF_INET6) {
        value += "unknown";
    } else {
        const bool quote = f == AF_INET6 || with_port;
        if (quote) value += '"';
        if (f == AF_INET6) value += '[';
        value += client.address();
        if (f == AF_INET6) value += ']';
        if (with_port) {
            value += ':';
            value += std::to_string(client.port());
        }
        if (quote) value += '"';
    }
    if (!proto.empty()) {
        value += ";proto=";
        value.append(proto.data(), proto.size());
    }
    if (!host.empty()) {
        bool token = true;
        for (char c : host)
            if (!detail::has(static_cast<unsigned char>(c), detail::c_token)) token = false;
        value += token ? ";host=" : ";host=\"";
        value.append(host.data(), host.size());
        if (!token) value += '"';
    }
    return {};
}
} // namespace http
} // namespace sluice
