// sluice — incremental, zero-copy, strict HTTP/1.1 parser (requests and responses).
//
// Usage: keep the unconsumed bytes of the connection contiguous and call
//
//     http::message_storage<64> msg;
//     http::parser p(http::parser::request, msg);
//     for (;;) {
//         http::result r = p.feed(buf + off, len - off);
//         off += r.consumed;               // these bytes are done with (see below)
//         if (r.ev == http::event::need_more) break;        // read more, call again
//         if (r.ev == http::event::head)  use(msg);          // views into buf
//         if (r.ev == http::event::body)  use(r.data);       // view into buf
//         if (r.ev == http::event::done)  ...;               // next message follows
//         if (r.ev == http::event::upgrade || r.ev == http::event::error) break;
//     }
//
// Why this shape: the head is parsed only once it is complete, so the head's
// views are plain pointers into the caller's buffer. Until then feed() consumes
// nothing and the caller presents the same bytes again plus new ones; the parser
// remembers how far it looked for the blank line (a tiny DFA over new bytes only),
// so byte-at-a-time input costs one scan plus one parse: at most 2x one-shot input.
// Head views stay valid while the caller keeps those bytes (it may discard them
// after it has used the head). Bodies, chunked or not, come out as views, with the
// chunk framing consumed silently. After `done` the parser is ready for the next
// pipelined message; after an upgrade (101, CONNECT) it stops and every remaining
// byte belongs to the caller. Errors are final: answer suggested_status() and close.
#pragma once

#include <sluice/config.hpp>
#include <sluice/http/error.hpp>
#include <sluice/http/message.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <system_error>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace sluice {
namespace http {

// Opt-in relaxations for real-world peers; the default (0) is strict RFC 9112.
namespace lenient {
inline constexpr unsigned bare_lf = 1u << 0;      // LF alone ends a line
inline constexpr unsigned obs_fold = 1u << 1;     // folded values: the view spans the fold
inline constexpr unsigned missing_host = 1u << 2; // HTTP/1.1 request without Host
inline constexpr unsigned content_length_with_te = 1u << 3;   // TE wins, CL ignored
inline constexpr unsigned duplicate_content_length = 1u << 4; // identical copies accepted
inline constexpr unsigned target_chars = 1u << 5;             // any visible ASCII in the target
} // namespace lenient

struct limits {
    std::uint32_t max_head = 8192;            // request/status line + header fields
    std::uint32_t max_request_line = 8192;    // checked first: a long URL is 414, not 431
    std::uint16_t max_headers = 64;           // also bounded by the caller's array
    std::uint16_t max_chunk_extension = 1024; // bytes of extensions on one chunk line
    std::uint64_t max_body = std::uint64_t(64) << 20;
    unsigned lenient = 0;
};

enum class event : std::uint8_t { need_more, head, body, done, upgrade, error };

struct result {
    event ev;
    std::size_t consumed;
    std::string_view data; // body bytes for event::body
};

namespace detail {

enum : unsigned char {
    c_token = 1,   // tchar (RFC 9110 5.6.2)
    c_target = 2,  // RFC 3986 characters allowed in request-target
    c_vtarget = 4, // any visible ASCII (lenient target)
    c_text = 8,    // field-vchar / SP / HTAB (field values, reason, chunk-ext)
    c_host = 16,   // uri-host [ ":" port ]
};

struct char_table {
    unsigned char v[256];
};

constexpr bool in_set(const char* s, int c) {
    for (; *s; ++s)
        if (*s == c) return true;
    return false;
}

constexpr char_table make_char_table() {
    char_table t{};
    for (int c = 0; c < 256; ++c) {
        unsigned char f = 0;
        bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (alnum || in_set("!#$%&'*+-.^_`|~", c)) f |= c_token;
        if (alnum || in_set("-._~%!$&'()*+,;=:@/?[]", c)) f |= c_target;
        if (c > 0x20 && c < 0x7f) f |= c_vtarget;
        if (c == '\t' || (c >= 0x20 && c != 0x7f)) f |= c_text;
        if (alnum || in_set("-._~%!$&'()*+,;=:[]", c)) f |= c_host;
        t.v[c] = f;
    }
    return t;
}

inline constexpr char_table k_chars = make_char_table();

inline bool has(unsigned char c, unsigned char cls) noexcept { return k_chars.v[c] & cls; }

inline const char* scan_class(const char* p, const char* end, unsigned char cls) noexcept {
    while (end - p >= 4) {
        if (!has(static_cast<unsigned char>(p[0]), cls)) return p;
        if (!has(static_cast<unsigned char>(p[1]), cls)) return p + 1;
        if (!has(static_cast<unsigned char>(p[2]), cls)) return p + 2;
        if (!has(static_cast<unsigned char>(p[3]), cls)) return p + 3;
        p += 4;
    }
    while (p < end && has(static_cast<unsigned char>(*p), cls)) ++p;
    return p;
}

inline unsigned ctz32(unsigned m) noexcept {
#if defined(__GNUC__) || defined(__clang__)
    return static_cast<unsigned>(__builtin_ctz(m));
#else
    unsigned n = 0;
    while (!(m & 1u)) m >>= 1, ++n;
    return n;
#endif
}

// First byte that may not appear inside a field value (CTL other than HTAB, or
// DEL): that is where the line ends, or where the value is invalid. Never reads
// at or past `end`, so a message that ends right before a guard page is safe.
inline const char* find_value_end(const char* p, const char* end) noexcept {
#if defined(__SSE2__)
    const __m128i lim = _mm_set1_epi8(0x1f);
    const __m128i del = _mm_set1_epi8(0x7f);
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        __m128i ctl = _mm_cmpeq_epi8(_mm_min_epu8(v, lim), v);
        int m = _mm_movemask_epi8(_mm_or_si128(ctl, _mm_cmpeq_epi8(v, del)));
        if (m == 0) {
            p += 16;
            continue;
        }
        p += ctz32(static_cast<unsigned>(m));
        if (*p != '\t') return p;
        ++p;
    }
#else
    // SWAR: a word with no byte < 0x20 and no 0x7f is skipped whole.
    const std::uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    while (end - p >= 8) {
        std::uint64_t x;
        std::memcpy(&x, p, 8);
        std::uint64_t y = x ^ (ones * 0x7f);
        if ((((x - ones * 0x20) & ~x) | ((y - ones) & ~y)) & highs) break;
        p += 8;
    }
#endif
    for (; p < end; ++p) {
        unsigned char c = static_cast<unsigned char>(*p);
        if ((c < 0x20 && c != '\t') || c == 0x7f) return p;
    }
    return end;
}

inline int hexval(unsigned char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    c = static_cast<unsigned char>(c | 0x20);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

// `lit` is lowercase letters and '-': OR-ing 0x20 folds only letters there,
// because every other byte of a token keeps or cannot reach those values.
inline bool name_is(std::string_view n, const char* lit, std::size_t len) noexcept {
    if (n.size() != len) return false;
    for (std::size_t i = 0; i < len; ++i)
        if ((static_cast<unsigned char>(n[i]) | 0x20) != static_cast<unsigned char>(lit[i]))
            return false;
    return true;
}

inline bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }

// Calls f(token) for each non-empty element of a comma list (RFC 9110 5.6.1).
template <class F>
inline bool for_each_list_item(std::string_view v, F&& f) {
    std::size_t i = 0, n = v.size();
    while (i <= n) {
        std::size_t j = v.find(',', i);
        if (j == std::string_view::npos) j = n;
        std::size_t a = i, b = j;
        while (a < b && is_ows(v[a])) ++a;
        while (b > a && is_ows(v[b - 1])) --b;
        if (a < b && !f(v.substr(a, b - a))) return false;
        i = j + 1;
    }
    return true;
}

} // namespace detail

class parser {
  public:
    enum kind_t : std::uint8_t { request = 0, response = 1 };

    parser(kind_t k, message& m, const limits& l = limits()) noexcept
        : msg_(&m), max_body_(l.max_body), max_head_(l.max_head), max_line_(l.max_request_line),
          max_headers_(l.max_headers), max_ext_(l.max_chunk_extension),
          lenient_(static_cast<std::uint16_t>(l.lenient)), bits_(k == response ? b_response : 0) {}

    // Feed the unconsumed bytes (see the top of this file). Never reads past len.
    result feed(const char* data, std::size_t len) noexcept {
        switch (state_) {
        case s_head:
            return feed_head(data, len);
        case s_body_cl: {
            std::size_t n = len < remaining_ ? len : static_cast<std::size_t>(remaining_);
            if (n == 0) return {event::need_more, 0, {}};
            remaining_ -= n;
            if (remaining_ == 0) state_ = s_done_pending;
            return {event::body, n, std::string_view(data, n)};
        }
        case s_body_eof:
            if (len == 0) return {event::need_more, 0, {}};
            if (len > body_budget_) return fail(error::body_too_large);
            body_budget_ -= len;
            return {event::body, len, std::string_view(data, len)};
        case s_trailers:
            return feed_trailers(data, len);
        case s_done_pending:
            return done(0);
        case s_upgraded:
            return {event::upgrade, 0, {}};
        case s_error:
            return {event::error, 0, {}};
        default:
            return feed_chunked(data, len);
        }
    }
    result feed(std::string_view s) noexcept { return feed(s.data(), s.size()); }

    // The peer closed the stream: completes a read-until-close body, and reports
    // unexpected_eof if a message was cut short. Pass the unconsumed bytes, if any,
    // so that a malformed partial head reports its precise error instead.
    result finish(const char* data, std::size_t len) noexcept {
        if (state_ == s_head && scanned_ != 0 && len >= scanned_) {
            std::size_t n = len < max_head_ ? len : max_head_;
            if (parse_head(data, n, false) < 0) return {event::error, 0, {}};
        }
        return finish();
    }
    result finish() noexcept {
        switch (state_) {
        case s_body_eof:
        case s_done_pending:
            return done(0);
        case s_head:
            if (scanned_ == 0) return {event::need_more, 0, {}};
            return fail(error::unexpected_eof);
        case s_upgraded:
            return {event::upgrade, 0, {}};
        case s_error:
            return {event::error, 0, {}};
        default:
            return fail(error::unexpected_eof);
        }
    }

    // For a response parser: the request this response answers (HEAD responses
    // have no body; a 2xx to CONNECT starts a tunnel). Set before each response.
    void response_to(verb v) noexcept {
        bits_ = static_cast<std::uint8_t>(bits_ & ~(b_resp_head | b_resp_connect));
        if (v == verb::head) bits_ |= b_resp_head;
        if (v == verb::connect) bits_ |= b_resp_connect;
    }

    // Back to the start of a message (e.g. after a declined upgrade, or to reuse).
    void reset() noexcept {
        state_ = s_head;
        scanned_ = 0;
        bits_ &= b_response;
        err_ = 0;
    }

    std::error_code error() const noexcept {
        return err_ ? make_error_code(static_cast<http::error>(err_)) : std::error_code();
    }
    message& msg() noexcept { return *msg_; }
    const message& msg() const noexcept { return *msg_; }
    // Bytes of head examined so far (scans + parses); for tests of the 2x bound.
    std::uint64_t bytes_examined() const noexcept { return work_; }
    bool in_body() const noexcept { return state_ != s_head && state_ < s_done_pending; }

  private:
    enum : std::uint8_t {
        s_head,
        s_body_cl,
        s_body_eof,
        s_chunk_size_first,
        s_chunk_size,
        s_chunk_ext,
        s_chunk_size_lf,
        s_chunk_data,
        s_chunk_data_cr,
        s_chunk_data_lf,
        s_trailers,
        s_done_pending,
        s_upgraded,
        s_error,
    };
    enum : std::uint8_t {
        b_response = 1,
        b_resp_head = 2,
        b_resp_connect = 4,
        b_line_seen = 8, // the first LF of the head has been found by the scan
        b_dfa_shift = 4, // bits 4-5: blank-line DFA (0 none, 1 after LF, 2 after LF CR)
        b_dfa_mask = 0x30,
        b_line_long = 0x40, // that first line is longer than max_request_line
    };

    bool is_response() const noexcept { return bits_ & b_response; }
    bool allow(unsigned f) const noexcept { return lenient_ & f; }
    unsigned dfa() const noexcept { return (bits_ & b_dfa_mask) >> b_dfa_shift; }
    void set_dfa(unsigned s) noexcept {
        bits_ = static_cast<std::uint8_t>((bits_ & ~b_dfa_mask) | (s << b_dfa_shift));
    }

    result fail(http::error e) noexcept {
        err_ = static_cast<std::uint8_t>(e);
        state_ = s_error;
        return {event::error, 0, {}};
    }

    result done(std::size_t consumed) noexcept {
        state_ = msg_->upgrade() ? s_upgraded : s_head;
        scanned_ = 0;
        bits_ &= b_response;
        return {event::done, consumed, {}};
    }

    // Looks for the blank line that ends a head or trailer section, over the bytes
    // not seen before. Returns the section length, or 0 if it is not there yet.
    std::size_t scan_blank_line(const char* data, std::size_t n, bool count) noexcept {
        const char* p = data + scanned_;
        const char* e = data + n;
        if (count) work_ += static_cast<std::uint64_t>(e - p);
        unsigned st = dfa();
        while (p < e) {
            if (st == 0) {
                const void* lf = std::memchr(p, '\n', static_cast<std::size_t>(e - p));
                if (!lf) {
                    p = e;
                    break;
                }
                p = static_cast<const char*>(lf);
                if (count && !(bits_ & b_line_seen)) {
                    bits_ |= b_line_seen;
                    if (!is_response() && static_cast<std::size_t>(p - data) > max_line_ + 1u)
                        bits_ |= b_line_long;
                }
                st = 1;
                ++p;
                continue;
            }
            char c = *p++;
            if (c == '\n') return static_cast<std::size_t>(p - data);
            st = (st == 1 && c == '\r') ? 2 : 0;
        }
        scanned_ = static_cast<std::uint32_t>(n);
        set_dfa(st);
        return 0;
    }

    result feed_head(const char* data, std::size_t len) noexcept {
        std::size_t skipped = 0;
        if (scanned_ == 0) {
            // RFC 9112 2.2: ignore empty lines before a request line.
            while (skipped < len) {
                char c = data[skipped];
                if (c == '\n') {
                    if (!allow(lenient::bare_lf)) return fail(error::bare_lf);
                    ++skipped;
                } else if (c == '\r') {
                    if (skipped + 1 == len) return {event::need_more, skipped, {}};
                    if (data[skipped + 1] != '\n') return fail(error::bare_cr);
                    skipped += 2;
                } else {
                    break;
                }
            }
            data += skipped;
            len -= skipped;
            if (len == 0) return {event::need_more, skipped, {}};
        }
        const std::size_t cap = max_head_;
        const std::size_t n = len < cap ? len : cap;
        if (scanned_ == 0) {
            // Optimistic: most heads arrive whole, so parse straight away.
            work_ += n;
            long r = parse_head(data, n, len >= cap);
            if (r > 0) return head_done(static_cast<std::size_t>(r) + skipped);
            if (r < 0) return {event::error, 0, {}};
            scanned_ = static_cast<std::uint32_t>(n);
            unsigned st = 0;
            if (data[n - 1] == '\n')
                st = 1;
            else if (n >= 2 && data[n - 1] == '\r' && data[n - 2] == '\n')
                st = 2;
            set_dfa(st);
            return {event::need_more, skipped, {}};
        }
        if (n < scanned_) return {event::need_more, 0, {}}; // caller lost bytes: wait
        std::size_t end = scan_blank_line(data, n, true);
        // Over a limit: one last parse of what is there reports the first problem,
        // exactly as if it had all arrived at once.
        const bool over = (bits_ & b_line_long) ||
                          (!is_response() && !(bits_ & b_line_seen) && n > max_line_ + 1u) ||
                          (end == 0 && len >= cap);
        if (end == 0 && !over) return {event::need_more, 0, {}};
        work_ += end ? end : n;
        long r = end ? parse_head(data, end, false) : parse_head(data, n, true);
        if (r > 0) return head_done(static_cast<std::size_t>(r));
        if (r == 0) return fail(is_response() ? error::bad_status_line : error::bad_request_line);
        return {event::error, 0, {}};
    }

    result head_done(std::size_t consumed) noexcept {
        const message& m = *msg_;
        scanned_ = 0;
        bits_ &= b_response | b_resp_head | b_resp_connect;
        body_budget_ = max_body_;
        if (!(m.flags & message::f_body)) {
            state_ = s_done_pending;
        } else if (m.chunked()) {
            state_ = s_chunk_size_first;
        } else if (m.close_delimited()) {
            state_ = s_body_eof;
        } else {
            remaining_ = m.content_length;
            state_ = s_body_cl;
        }
        return {event::head, consumed, {}};
    }

    // >0: head length; 0: incomplete; <0: error (err_ set, state_ = s_error).
    long parse_head(const char* buf, std::size_t len, bool at_limit) noexcept {
        message& m = *msg_;
        const char* p = buf;
        const char* const end = buf + len;
        m.method = m.target = m.reason = std::string_view();
        m.content_length = 0;
        m.num_headers = m.num_trailers = 0;
        m.status = 0;
        m.verb = verb::other;
        m.version_minor = 1;
        m.flags = 0;

        auto more_line = [&]() -> long {
            if (!is_response() && (len > max_line_ + 1u || at_limit))
                return bad(error::request_line_too_long);
            if (at_limit) return bad(error::head_too_large);
            return 0;
        };
        // Too short for a version, yet the line ended: malformed, not incomplete.
        auto short_line = [&](http::error e) -> long {
            for (const char* q = p; q < end; ++q)
                if (*q == '\r' || *q == '\n') return bad(e);
            return more_line();
        };
        auto line_end = [&](http::error other) -> long { // 1 ok, 0 more, -1 error
            if (p == end) return 0;
            if (*p == '\r') {
                if (end - p < 2) return 0;
                if (p[1] != '\n') return bad(error::bare_cr);
                p += 2;
                return 1;
            }
            if (*p == '\n') {
                if (!allow(lenient::bare_lf)) return bad(error::bare_lf);
                ++p;
                return 1;
            }
            return bad(*p == 0 ? error::nul_byte : other);
        };

        if (!is_response()) {
            const char* m0 = p;
            p = detail::scan_class(p, end, detail::c_token);
            if (p == end) return more_line();
            if (*p != ' ' || p == m0) return bad(*p == 0 ? error::nul_byte : error::bad_method);
            m.method = std::string_view(m0, static_cast<std::size_t>(p - m0));
            m.verb = to_verb(m.method);
            const char* t0 = ++p;
            p = detail::scan_class(
                p, end, allow(lenient::target_chars) ? detail::c_vtarget : detail::c_target);
            if (p == end) return more_line();
            if (*p != ' ' || p == t0) return bad(*p == 0 ? error::nul_byte : error::bad_target);
            m.target = std::string_view(t0, static_cast<std::size_t>(p - t0));
            ++p;
            if (end - p < 8) return short_line(error::bad_version);
            long v = version(p);
            if (v < 0) return v;
            p += 8;
            long r = line_end(error::bad_version);
            if (r == 0) return more_line();
            if (r < 0) return r;
            if (static_cast<std::size_t>(p - buf) > max_line_ + 2u)
                return bad(error::request_line_too_long);
        } else {
            if (end - p < 9) return short_line(error::bad_status_line);
            long v = version(p);
            if (v < 0) return v == -2 ? v : bad(error::bad_status_line);
            p += 8;
            if (*p++ != ' ') return bad(error::bad_status_line);
            if (end - p < 3) return short_line(error::bad_status_line);
            unsigned s = 0;
            for (int i = 0; i < 3; ++i) {
                unsigned d = static_cast<unsigned char>(p[i]) - '0';
                if (d > 9) return bad(error::bad_status_line);
                s = s * 10 + d;
            }
            if (s < 100) return bad(error::bad_status_line);
            m.status = static_cast<std::uint16_t>(s);
            p += 3;
            if (p == end) return more_line();
            http::error after = error::bad_status_line;
            if (*p == ' ') {
                const char* r0 = ++p;
                p = detail::find_value_end(p, end);
                m.reason = std::string_view(r0, static_cast<std::size_t>(p - r0));
                after = error::bad_reason;
            }
            long r = line_end(after);
            if (r == 0) return more_line();
            if (r < 0) return r;
        }

        bits_ |= b_line_seen; // the scan that may follow need not measure this line
        std::uint32_t cap = m.header_capacity < max_headers_ ? m.header_capacity : max_headers_;
        std::uint32_t n = 0;
        long r = parse_fields(p, end, m.headers, cap, n);
        if (r == 0) return at_limit ? bad(error::head_too_large) : 0;
        if (r < 0) return r;
        m.num_headers = n;
        if (!apply_semantics(m)) return -1;
        return static_cast<long>(p - buf);
    }

    long bad(http::error e) noexcept {
        err_ = static_cast<std::uint8_t>(e);
        state_ = s_error;
        return -1;
    }

    // "HTTP/1.x" at p (8 bytes available). Sets the minor version.
    long version(const char* p) noexcept {
        if (std::memcmp(p, "HTTP/", 5) != 0) return bad(error::bad_version);
        unsigned maj = static_cast<unsigned char>(p[5]) - '0';
        unsigned min = static_cast<unsigned char>(p[7]) - '0';
        if (maj > 9 || min > 9 || p[6] != '.') return bad(error::bad_version);
        if (maj != 1) {
            bad(error::version_not_supported);
            return -2;
        }
        // RFC 9110 6.2: a higher minor version is handled as the highest we know.
        msg_->version_minor = static_cast<std::uint8_t>(min == 0 ? 0 : 1);
        return 0;
    }

    // Field lines up to and including the blank line. 1 done, 0 more, -1 error.
    long parse_fields(const char*& pr, const char* end, header* hs, std::uint32_t cap,
                      std::uint32_t& n) noexcept {
        const char* p = pr;
        for (;;) {
            if (p == end) return 0;
            unsigned char c = static_cast<unsigned char>(*p);
            if (c == '\r') {
                if (end - p < 2) return 0;
                if (p[1] != '\n') return bad(error::bare_cr);
                pr = p + 2;
                return 1;
            }
            if (c == '\n') {
                if (!allow(lenient::bare_lf)) return bad(error::bare_lf);
                pr = p + 1;
                return 1;
            }
            const char* n0 = p;
            std::string_view name;
            if (c == ' ' || c == '\t') {
                if (!allow(lenient::obs_fold) || n == 0) return bad(error::obs_fold);
            } else {
                p = detail::scan_class(p, end, detail::c_token);
                if (p == end) return 0;
                if (*p != ':') {
                    c = static_cast<unsigned char>(*p);
                    if (c == ' ' || c == '\t') return bad(error::whitespace_before_colon);
                    return bad(c == 0 ? error::nul_byte : error::bad_header_name);
                }
                if (p == n0) return bad(error::bad_header_name);
                name = std::string_view(n0, static_cast<std::size_t>(p - n0));
                ++p;
            }
            while (p < end && detail::is_ows(*p)) ++p;
            const char* v0 = p;
            p = detail::find_value_end(p, end);
            if (p == end) return 0;
            const char* ve = p;
            c = static_cast<unsigned char>(*p);
            if (c == '\r') {
                if (end - p < 2) return 0;
                if (p[1] != '\n') return bad(error::bare_cr);
                p += 2;
            } else if (c == '\n') {
                if (!allow(lenient::bare_lf)) return bad(error::bare_lf);
                ++p;
            } else {
                return bad(c == 0 ? error::nul_byte : error::bad_header_value);
            }
            while (ve > v0 && detail::is_ows(ve[-1])) --ve;
            if (name.data() == nullptr) { // obs-fold continuation (lenient)
                std::string_view& pv = hs[n - 1].value;
                const char* s = pv.empty() ? v0 : pv.data();
                if (ve > v0) pv = std::string_view(s, static_cast<std::size_t>(ve - s));
                continue;
            }
            if (n >= cap) return bad(error::too_many_headers);
            hs[n].name = name;
            hs[n].value = std::string_view(v0, static_cast<std::size_t>(ve - v0));
            ++n;
        }
    }

    // Framing and connection rules of RFC 9112 6 and 9.
    bool apply_semantics(message& m) noexcept {
        bool cl = false, te = false, chunked_last = false, chunked_seen = false;
        bool conn_close = false, conn_ka = false, conn_upgrade = false, has_upgrade = false;
        unsigned hosts = 0;
        std::uint64_t clv = 0;
        http::error err{};
        bool ok = true;
        for (std::uint32_t i = 0; i < m.num_headers && ok; ++i) {
            std::string_view nm = m.headers[i].name, v = m.headers[i].value;
            switch (nm.size()) {
            case 4:
                if (!detail::name_is(nm, "host", 4)) break;
                ++hosts;
                for (char ch : v)
                    if (!detail::has(static_cast<unsigned char>(ch), detail::c_host)) {
                        err = error::bad_host;
                        ok = false;
                        break;
                    }
                break;
            case 6:
                if (detail::name_is(nm, "expect", 6) && detail::iequals(v, "100-continue"))
                    m.flags |= message::f_expect_continue;
                break;
            case 7:
                if (detail::name_is(nm, "upgrade", 7)) has_upgrade = true;
                break;
            case 10:
                if (!detail::name_is(nm, "connection", 10)) break;
                detail::for_each_list_item(v, [&](std::string_view t) {
                    if (detail::iequals(t, "close"))
                        conn_close = true;
                    else if (detail::iequals(t, "keep-alive"))
                        conn_ka = true;
                    else if (detail::iequals(t, "upgrade"))
                        conn_upgrade = true;
                    return true;
                });
                break;
            case 14: {
                if (!detail::name_is(nm, "content-length", 14)) break;
                bool any = false;
                ok = detail::for_each_list_item(v, [&](std::string_view t) {
                    std::uint64_t x = 0;
                    if (t.size() > 18) return err = error::bad_content_length, false;
                    for (char ch : t) {
                        unsigned d = static_cast<unsigned char>(ch) - '0';
                        if (d > 9) return err = error::bad_content_length, false;
                        x = x * 10 + d;
                    }
                    any = true;
                    if (cl) {
                        if (x != clv) return err = error::conflicting_content_length, false;
                        if (!allow(lenient::duplicate_content_length))
                            return err = error::duplicate_content_length, false;
                    }
                    cl = true;
                    clv = x;
                    return true;
                });
                if (ok && !any) err = error::bad_content_length, ok = false;
                break;
            }
            case 17: {
                if (!detail::name_is(nm, "transfer-encoding", 17)) break;
                te = true;
                bool any = false;
                ok = detail::for_each_list_item(v, [&](std::string_view t) {
                    std::size_t semi = t.find(';'); // transfer parameters
                    if (semi != std::string_view::npos) {
                        t = t.substr(0, semi);
                        while (!t.empty() && detail::is_ows(t.back())) t.remove_suffix(1);
                    }
                    any = true;
                    if (detail::iequals(t, "chunked")) {
                        // chunked twice would frame the body twice: ambiguous.
                        if (chunked_seen) return err = error::bad_transfer_encoding, false;
                        chunked_seen = chunked_last = true;
                        return true;
                    }
                    chunked_last = false;
                    if (detail::iequals(t, "gzip") || detail::iequals(t, "deflate") ||
                        detail::iequals(t, "compress") || detail::iequals(t, "x-gzip") ||
                        detail::iequals(t, "x-compress"))
                        return true;
                    return err = error::unknown_transfer_coding, false;
                });
                if (ok && !any) err = error::bad_transfer_encoding, ok = false;
                break;
            }
            default:
                break;
            }
        }
        if (!ok) return bad(err), false;
        const bool req = !is_response();
        if (te) {
            if (m.version_minor == 0) return bad(error::transfer_encoding_http10), false;
            if (cl && !allow(lenient::content_length_with_te))
                return bad(error::content_length_with_transfer_encoding), false;
            cl = false;
            // Without chunked last a request body has no end (RFC 9112 6.3 p4).
            if (!chunked_last && req) return bad(error::transfer_encoding_not_chunked), false;
            m.flags |= message::f_transfer_encoding;
        }
        if (req) {
            if (m.version_minor == 1 && hosts == 0 && !allow(lenient::missing_host))
                return bad(error::missing_host), false;
            if (hosts > 1) return bad(error::duplicate_host), false;
            if (m.version_minor == 0)
                m.flags &= static_cast<std::uint8_t>(~message::f_expect_continue);
        } else {
            m.flags &= static_cast<std::uint8_t>(~message::f_expect_continue);
        }
        if (cl) {
            m.flags |= message::f_content_length;
            m.content_length = clv;
        }
        bool keep = m.version_minor == 1 ? !conn_close : (conn_ka && !conn_close);
        bool body = true;
        if (req) {
            if (m.verb == verb::connect || (has_upgrade && conn_upgrade))
                m.flags |= message::f_upgrade;
        } else {
            unsigned s = m.status;
            if (s == 101 || ((bits_ & b_resp_connect) && s >= 200 && s < 300)) {
                m.flags |= message::f_upgrade;
                body = false;
            } else if (s < 200 || s == 204 || s == 304 || (bits_ & b_resp_head)) {
                body = false;
            }
        }
        if (body) {
            if (te) {
                if (chunked_last)
                    m.flags |= message::f_chunked;
                else
                    m.flags |= message::f_close_delimited;
            } else if (!cl && !req) {
                m.flags |= message::f_close_delimited;
            }
            if (m.flags & message::f_close_delimited) keep = false;
            if (cl && clv > max_body_) return bad(error::body_too_large), false;
            if (!cl || clv > 0) m.flags |= message::f_body;
            if (!te && !cl && req) m.flags &= static_cast<std::uint8_t>(~message::f_body);
        }
        if (keep) m.flags |= message::f_keep_alive;
        return true;
    }

    result feed_chunked(const char* data, std::size_t len) noexcept {
        std::size_t i = 0;
        while (i < len) {
            unsigned char c = static_cast<unsigned char>(data[i]);
            bool line_done = false;
            switch (state_) {
            case s_chunk_size_first: {
                int h = detail::hexval(c);
                if (h < 0) return fail(error::bad_chunk_size);
                remaining_ = static_cast<std::uint64_t>(h);
                count_ = 1;
                state_ = s_chunk_size;
                ++i;
                break;
            }
            case s_chunk_size: {
                int h = detail::hexval(c);
                if (h >= 0) {
                    if (count_ >= 16) return fail(error::chunk_size_overflow);
                    remaining_ = (remaining_ << 4) | static_cast<std::uint64_t>(h);
                    ++count_;
                } else if (c == '\r') {
                    state_ = s_chunk_size_lf;
                } else if (c == '\n') {
                    if (!allow(lenient::bare_lf)) return fail(error::bare_lf);
                    line_done = true;
                } else if (c == ';' || c == ' ' || c == '\t') {
                    state_ = s_chunk_ext;
                    count_ = 1;
                } else {
                    return fail(error::bad_chunk_size);
                }
                ++i;
                break;
            }
            case s_chunk_ext:
                if (c == '\r') {
                    state_ = s_chunk_size_lf;
                } else if (c == '\n') {
                    if (!allow(lenient::bare_lf)) return fail(error::bare_lf);
                    line_done = true;
                } else if (c == 0) {
                    return fail(error::nul_byte);
                } else if (!detail::has(c, detail::c_text)) {
                    return fail(error::bad_chunk_extension);
                } else if (++count_ > max_ext_) {
                    return fail(error::chunk_extension_too_long);
                }
                ++i;
                break;
            case s_chunk_size_lf:
                if (c != '\n') return fail(error::bare_cr);
                line_done = true;
                ++i;
                break;
            case s_chunk_data: {
                std::size_t n = len - i;
                if (n > remaining_) n = static_cast<std::size_t>(remaining_);
                remaining_ -= n;
                if (remaining_ == 0) state_ = s_chunk_data_cr;
                return {event::body, i + n, std::string_view(data + i, n)};
            }
            case s_chunk_data_cr:
                if (c == '\r') {
                    state_ = s_chunk_data_lf;
                } else if (c == '\n' && allow(lenient::bare_lf)) {
                    state_ = s_chunk_size_first;
                } else {
                    return fail(error::bad_chunk_end);
                }
                ++i;
                break;
            case s_chunk_data_lf:
                if (c != '\n') return fail(error::bad_chunk_end);
                state_ = s_chunk_size_first;
                ++i;
                break;
            default:
                return {event::error, 0, {}};
            }
            if (line_done) {
                if (remaining_ == 0) {
                    state_ = s_trailers;
                    scanned_ = 0;
                    set_dfa(1); // a blank line right away means no trailers
                    result r = feed_trailers(data + i, len - i);
                    r.consumed += i;
                    return r;
                }
                if (remaining_ > body_budget_) return fail(error::body_too_large);
                body_budget_ -= remaining_;
                state_ = s_chunk_data;
            }
        }
        return {event::need_more, len, {}};
    }

    result feed_trailers(const char* data, std::size_t len) noexcept {
        std::size_t n = len < max_head_ ? len : max_head_;
        if (n < scanned_) return {event::need_more, 0, {}};
        std::size_t end = scan_blank_line(data, n, false);
        if (end == 0) {
            if (len >= max_head_) return fail(error::head_too_large);
            return {event::need_more, 0, {}};
        }
        message& m = *msg_;
        std::uint32_t cap = m.header_capacity < max_headers_ ? m.header_capacity : max_headers_;
        cap = cap > m.num_headers ? cap - m.num_headers : 0;
        std::uint32_t cnt = 0;
        const char* p = data;
        long r = parse_fields(p, data + end, m.headers + m.num_headers, cap, cnt);
        if (r < 0) return {event::error, 0, {}};
        if (r == 0) return fail(error::bad_chunk_end);
        m.num_trailers = cnt;
        return done(end);
    }

    message* msg_;
    std::uint64_t remaining_ = 0;
    std::uint64_t body_budget_ = 0;
    std::uint64_t max_body_;
    std::uint64_t work_ = 0;
    std::uint32_t scanned_ = 0;
    std::uint32_t max_head_;
    std::uint32_t max_line_;
    std::uint16_t max_headers_;
    std::uint16_t max_ext_;
    std::uint16_t count_ = 0;
    std::uint16_t lenient_;
    std::uint8_t state_ = s_head;
    std::uint8_t bits_;
    std::uint8_t err_ = 0;
};

} // namespace http
} // namespace sluice
