// sluice — HTTP/1.1 message serializer, Date header cache, 100 Continue.
//
// The serializer appends to a sink: a std::string, or a fixed caller buffer
// (out_buffer) for the allocation-free path. It refuses names that are not
// tokens and values holding CR, LF or NUL, so a caller can never be tricked
// into response splitting; the first failure sticks in error().
#pragma once

#include <sluice/config.hpp>
#include <sluice/http/error.hpp>
#include <sluice/http/message.hpp>
#include <sluice/http/parser.hpp>

#include <chrono>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <system_error>

namespace sluice {
namespace http {

inline constexpr std::string_view continue_100 = "HTTP/1.1 100 Continue\r\n\r\n";

// A fixed output buffer. Writes past the capacity are dropped and remembered.
class out_buffer {
  public:
    out_buffer(char* data, std::size_t capacity) noexcept : data_(data), cap_(capacity) {}
    void append(const char* s, std::size_t n) noexcept {
        if (n > cap_ - len_) {
            overflow_ = true;
            return;
        }
        std::memcpy(data_ + len_, s, n);
        len_ += n;
    }
    std::size_t size() const noexcept { return len_; }
    bool overflowed() const noexcept { return overflow_; }
    std::string_view view() const noexcept { return std::string_view(data_, len_); }
    void clear() noexcept { len_ = 0, overflow_ = false; }

  private:
    char* data_;
    std::size_t cap_;
    std::size_t len_ = 0;
    bool overflow_ = false;
};

namespace detail {
inline void put(std::string& s, const char* p, std::size_t n) { s.append(p, n); }
inline void put(out_buffer& b, const char* p, std::size_t n) noexcept { b.append(p, n); }
inline bool overflowed(const std::string&) noexcept { return false; }
inline bool overflowed(const out_buffer& b) noexcept { return b.overflowed(); }

SLUICE_DECL std::size_t format_uint(std::uint64_t v, char* out, unsigned base = 10) noexcept;

SLUICE_DECL bool valid_token(std::string_view s) noexcept;
SLUICE_DECL bool valid_value(std::string_view s) noexcept;
} // namespace detail

// Standard reason phrases for the common codes ("" for others; still valid).
SLUICE_DECL std::string_view reason_phrase(unsigned status) noexcept;

template <class Sink>
class serializer {
  public:
    explicit serializer(Sink& out) noexcept : out_(out) {}

    serializer& status_line(unsigned status, std::string_view reason = {}, unsigned minor = 1) {
        if (status < 100 || status > 999) return fail();
        if (reason.data() == nullptr) reason = reason_phrase(status);
        if (!detail::valid_value(reason)) return fail();
        // The range check above makes the code exactly three digits, so they are
        // written in place: a general digit loop here lets GCC's vectoriser assume up
        // to 20 digits and warn that they overflow the line (-Wstringop-overflow).
        char line[] = "HTTP/1.1 000 ";
        if (!minor) line[7] = '0';
        line[9] = static_cast<char>('0' + status / 100);
        line[10] = static_cast<char>('0' + status / 10 % 10);
        line[11] = static_cast<char>('0' + status % 10);
        raw(line, sizeof line - 1);
        raw(reason);
        return raw("\r\n", 2);
    }

    serializer& request_line(std::string_view method, std::string_view target, unsigned minor = 1) {
        if (!detail::valid_token(method) || target.empty()) return fail();
        for (char c : target)
            if (!detail::has(static_cast<unsigned char>(c), detail::c_vtarget)) return fail();
        raw(method);
        raw(" ", 1);
        raw(target);
        return raw(minor ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n", 11);
    }

    serializer& header(std::string_view name, std::string_view value) {
        if (!detail::valid_token(name) || !detail::valid_value(value)) return fail();
        // Leading or trailing whitespace would be stripped by the reader anyway.
        if (!value.empty() && (detail::is_ows(value.front()) || detail::is_ows(value.back())))
            return fail();
        raw(name);
        raw(": ", 2);
        raw(value);
        return raw("\r\n", 2);
    }

    serializer& header(std::string_view name, std::uint64_t value) {
        char num[24];
        return header(name, std::string_view(num, detail::format_uint(value, num)));
    }

    serializer& content_length(std::uint64_t n) { return header("Content-Length", n); }
    serializer& chunked() { return header("Transfer-Encoding", "chunked"); }

    // Ends the head. Call after the framing header (content_length or chunked).
    serializer& end_head() { return raw("\r\n", 2); }

    // Body helpers for a chunked message. An empty chunk would end the body, so
    // it is skipped.
    serializer& chunk(std::string_view data) {
        if (data.empty()) return *this;
        char size[24];
        std::size_t n = detail::format_uint(data.size(), size, 16);
        raw(size, n);
        raw("\r\n", 2);
        raw(data);
        return raw("\r\n", 2);
    }
    serializer& last_chunk(const http::header* trailers = nullptr, std::size_t n = 0) {
        raw("0\r\n", 3);
        for (std::size_t i = 0; i < n; ++i) header(trailers[i].name, trailers[i].value);
        return raw("\r\n", 2);
    }

    // Raw bytes (a body sent with Content-Length).
    serializer& body(std::string_view data) { return raw(data); }

    std::error_code error() const noexcept {
        if (err_) return make_error_code(error::invalid_field);
        if (detail::overflowed(out_)) return make_error_code(error::buffer_too_small);
        return {};
    }

  private:
    serializer& raw(std::string_view s) { return raw(s.data(), s.size()); }
    serializer& raw(const char* p, std::size_t n) {
        if (!err_) detail::put(out_, p, n);
        return *this;
    }
    serializer& fail() noexcept {
        err_ = true;
        return *this;
    }

    Sink& out_;
    bool err_ = false;
};

// IMF-fixdate (RFC 9110 5.6.7) of a Unix time, e.g. "Sun, 06 Nov 1994 08:49:37 GMT".
// Computed by hand: gmtime is not thread-safe and gmtime_r is not standard C++.
inline constexpr std::size_t imf_fixdate_size = 29;
SLUICE_DECL void format_imf_fixdate(std::int64_t unix_seconds, char out[imf_fixdate_size]) noexcept;

// The Date value changes once a second while a server answers many requests a
// second: format it once per second. One cache per thread (no locking).
class date_cache {
  public:
    std::string_view get(std::int64_t unix_seconds) noexcept {
        if (unix_seconds != sec_) {
            sec_ = unix_seconds;
            format_imf_fixdate(unix_seconds, buf_);
            ++formats_;
        }
        return std::string_view(buf_, imf_fixdate_size);
    }
    template <class Clock, class Duration>
    std::string_view get(std::chrono::time_point<Clock, Duration> t) noexcept {
        return get(static_cast<std::int64_t>(
            std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count()));
    }
    std::string_view now() noexcept { return get(std::chrono::system_clock::now()); }
    std::uint64_t formats() const noexcept { return formats_; }

  private:
    std::int64_t sec_ = INT64_MIN;
    std::uint64_t formats_ = 0;
    char buf_[imf_fixdate_size] = {};
};

} // namespace http
} // namespace sluice

#if SLUICE_COMPILE_BODIES
#include <sluice/http/impl/serializer.ipp>
#endif
