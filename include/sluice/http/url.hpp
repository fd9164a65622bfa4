// sluice — request-target helpers: split, percent-decode, query iteration, and
// path normalisation for mapping URLs onto a file tree or a router.
//
// normalize_path() decodes first and then resolves "." and "..", so "%2e%2e" is
// "..". A ".." that would climb above the root is an error (never clamped: a
// request that tries it is hostile or broken). Encoded slashes and backslashes
// (%2F, %5C) are rejected rather than kept as data, because some later layer
// (a file system, a proxy) would read them as separators; NUL is rejected too.
#pragma once

#include <sluice/config.hpp>
#include <sluice/http/error.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <system_error>

namespace sluice {
namespace http {

struct target_parts {
    enum form_t : unsigned char { origin_form, absolute_form, authority_form, asterisk_form };
    form_t form = origin_form;
    std::string_view scheme;    // absolute-form only
    std::string_view authority; // absolute- and authority-form
    std::string_view path;      // raw (still percent-encoded)
    std::string_view query;     // raw, without the '?'
    bool has_query = false;
};

namespace detail {
SLUICE_DECL int url_hex(char c) noexcept;
inline bool url_alpha(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
SLUICE_DECL void split_query(std::string_view s, target_parts& out) noexcept;
} // namespace detail

// Splits a request-target (RFC 9112 3.2) into its parts; views into `target`.
SLUICE_DECL std::error_code split_target(std::string_view target, target_parts& out) noexcept;

// Appends the decoded form of `in` to `out`. A '%' must start "%XX" with two hex
// digits. With plus_as_space, '+' is a space (HTML form encoding in queries).
SLUICE_DECL std::error_code percent_decode(std::string_view in, std::string& out,
                                           bool plus_as_space = false);

// In place, without allocating: returns the decoded length (<= n).
SLUICE_DECL std::size_t percent_decode_inplace(char* s, std::size_t n, std::error_code& ec,
                                               bool plus_as_space = false) noexcept;

struct query_param {
    std::string_view key;   // raw
    std::string_view value; // raw; empty when there is no '='
    bool has_value = false;
};

// Iterates "a=1&b=&c" as raw key/value views (empty pairs skipped). Decode a
// part with percent_decode(part, out, true).
class query_params {
  public:
    class iterator {
      public:
        iterator() = default;
        iterator(std::string_view rest) noexcept : rest_(rest), at_end_(false) { next(); }
        const query_param& operator*() const noexcept { return cur_; }
        const query_param* operator->() const noexcept { return &cur_; }
        iterator& operator++() noexcept {
            next();
            return *this;
        }
        bool operator==(const iterator& o) const noexcept { return at_end_ == o.at_end_; }
        bool operator!=(const iterator& o) const noexcept { return !(*this == o); }

      private:
        void next() noexcept {
            for (;;) {
                if (rest_.data() == nullptr) {
                    at_end_ = true;
                    return;
                }
                std::size_t amp = rest_.find('&');
                std::string_view pair = rest_.substr(0, amp);
                rest_ = amp == std::string_view::npos ? std::string_view() : rest_.substr(amp + 1);
                if (pair.empty()) continue;
                std::size_t eq = pair.find('=');
                cur_.key = pair.substr(0, eq);
                cur_.has_value = eq != std::string_view::npos;
                cur_.value = cur_.has_value ? pair.substr(eq + 1) : std::string_view();
                return;
            }
        }
        std::string_view rest_;
        query_param cur_;
        bool at_end_ = true;
    };

    explicit query_params(std::string_view query) noexcept : q_(query) {}
    iterator begin() const noexcept {
        return q_.empty() ? iterator() : iterator(std::string_view(q_.data(), q_.size()));
    }
    iterator end() const noexcept { return iterator(); }

    // First parameter whose raw key equals `key`.
    bool find(std::string_view key, std::string_view& value) const noexcept {
        for (const query_param& p : *this)
            if (p.key == key) {
                value = p.value;
                return true;
            }
        return false;
    }

  private:
    std::string_view q_;
};

// Normalises an origin-form path (see the top of the file) into `out`, which
// then starts with '/' and holds decoded bytes with no "." / ".." segments and no
// empty segments; a trailing '/' is kept.
SLUICE_DECL std::error_code normalize_path(std::string_view raw, std::string& out);

} // namespace http
} // namespace sluice

#if SLUICE_COMPILE_BODIES
#include <sluice/http/impl/url.ipp>
#endif
