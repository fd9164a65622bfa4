// sluice — out-of-line bodies of sluice/http/url.hpp: compiled in every translation unit when
// header-only, only in the SLUICE_IMPLEMENTATION one under SLUICE_SEPARATE_COMPILATION.
#pragma once

#include <sluice/http/url.hpp>

namespace sluice {
namespace http {
namespace detail {

SLUICE_DECL int url_hex(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

SLUICE_DECL void split_query(std::string_view s, target_parts& out) noexcept {
    std::size_t q = s.find('?');
    if (q == std::string_view::npos) {
        out.path = s;
        return;
    }
    out.path = s.substr(0, q);
    out.query = s.substr(q + 1);
    out.has_query = true;
}
} // namespace detail
} // namespace http
} // namespace sluice

namespace sluice {
namespace http {

SLUICE_DECL std::error_code split_target(std::string_view target, target_parts& out) noexcept {
    out = target_parts();
    if (target.empty()) return make_error_code(error::bad_url);
    if (target[0] == '/') {
        out.form = target_parts::origin_form;
        detail::split_query(target, out);
        return {};
    }
    if (target == "*") {
        out.form = target_parts::asterisk_form;
        return {};
    }
    std::size_t colon = target.find(':');
    if (colon != std::string_view::npos && target.substr(colon, 3) == "://") {
        std::string_view scheme = target.substr(0, colon);
        if (scheme.empty() || !detail::url_alpha(scheme[0])) return make_error_code(error::bad_url);
        for (char c : scheme)
            if (!detail::url_alpha(c) && !(c >= '0' && c <= '9') && c != '+' && c != '-' &&
                c != '.')
                return make_error_code(error::bad_url);
        std::string_view rest = target.substr(colon + 3);
        std::size_t a = rest.find_first_of("/?");
        out.form = target_parts::absolute_form;
        out.scheme = scheme;
        out.authority = rest.substr(0, a);
        if (out.authority.empty()) return make_error_code(error::bad_url);
        if (a != std::string_view::npos) detail::split_query(rest.substr(a), out);
        if (!out.path.empty() && out.path[0] != '/') out.path = {};
        return {};
    }
    // authority-form (CONNECT): host ":" port
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == target.size() ||
        target.find('/') != std::string_view::npos)
        return make_error_code(error::bad_url);
    std::size_t pcolon = target.rfind(':');
    for (char c : target.substr(pcolon + 1))
        if (c < '0' || c > '9') return make_error_code(error::bad_url);
    out.form = target_parts::authority_form;
    out.authority = target;
    return {};
}

SLUICE_DECL std::error_code percent_decode(std::string_view in, std::string& out,
                                           bool plus_as_space) {
    out.reserve(out.size() + in.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
        char c = in[i];
        if (c == '%') {
            if (in.size() - i < 3) return make_error_code(error::bad_percent_encoding);
            int h = detail::url_hex(in[i + 1]), l = detail::url_hex(in[i + 2]);
            if (h < 0 || l < 0) return make_error_code(error::bad_percent_encoding);
            out.push_back(static_cast<char>(h * 16 + l));
            i += 2;
        } else if (c == '+' && plus_as_space) {
            out.push_back(' ');
        } else {
            out.push_back(c);
        }
    }
    return {};
}

SLUICE_DECL std::size_t percent_decode_inplace(char* s, std::size_t n, std::error_code& ec,
                                               bool plus_as_space) noexcept {
    std::size_t w = 0;
    for (std::size_t i = 0; i < n; ++i) {
        char c = s[i];
        if (c == '%') {
            if (n - i < 3) return ec = make_error_code(error::bad_percent_encoding), 0;
            int h = detail::url_hex(s[i + 1]), l = detail::url_hex(s[i + 2]);
            if (h < 0 || l < 0) return ec = make_error_code(error::bad_percent_encoding), 0;
            s[w++] = static_cast<char>(h * 16 + l);
            i += 2;
        } else {
            s[w++] = (c == '+' && plus_as_space) ? ' ' : c;
        }
    }
    ec.clear();
    return w;
}

SLUICE_DECL std::error_code normalize_path(std::string_view raw, std::string& out) {
    out.clear();
    if (raw.empty() || raw[0] != '/') return make_error_code(error::bad_path);
    out.push_back('/');
    std::size_t i = 1;
    std::string seg;
    while (i <= raw.size()) {
        std::size_t j = raw.find('/', i);
        if (j == std::string_view::npos) j = raw.size();
        std::string_view enc = raw.substr(i, j - i);
        seg.clear();
        for (std::size_t k = 0; k < enc.size(); ++k) {
            char c = enc[k];
            if (c == '%') {
                if (enc.size() - k < 3) return make_error_code(error::bad_percent_encoding);
                int h = detail::url_hex(enc[k + 1]), l = detail::url_hex(enc[k + 2]);
                if (h < 0 || l < 0) return make_error_code(error::bad_percent_encoding);
                c = static_cast<char>(h * 16 + l);
                k += 2;
                if (c == '/' || c == '\\') return make_error_code(error::encoded_slash);
            } else if (c == '\\') {
                return make_error_code(error::bad_path);
            }
            if (c == '\0') return make_error_code(error::bad_path);
            seg.push_back(c);
        }
        const bool last = j == raw.size();
        if (seg == "..") {
            if (out.size() == 1) return make_error_code(error::path_escapes_root);
            out.pop_back(); // the '/' after the previous segment
            out.resize(out.rfind('/') + 1);
        } else if (!seg.empty() && seg != ".") {
            out += seg;
            if (!last) out.push_back('/');
        }
        i = j + 1;
    }
    return {};
}
} // namespace http
} // namespace sluice
