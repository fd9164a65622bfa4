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
// checks the new bytes only, with a small state machine that resumes where the last
// call stopped, so a malformed request line or field is refused as soon as its first
// bad byte arrives (with the code a one-shot parse gives), and byte-at-a-time input
// costs one scan plus one parse: at most 2x one-shot input.
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
    std::uint16_t max_chunk_extension = 1024; // bytes after the size on a chunk line (0: none)
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
    SLUICE_DECL result feed(const char* data, std::size_t len) noexcept;
    result feed(std::string_view s) noexcept { return feed(s.data(), s.size()); }

    // The peer closed the stream: completes a read-until-close body, and reports
    // unexpected_eof if a message was cut short. Pass the unconsumed bytes, if any,
    // so that a malformed partial head reports its precise error instead.
    SLUICE_DECL result finish(const char* data, std::size_t len) noexcept;
    SLUICE_DECL result finish() noexcept;

    // For a response parser: the request this response answers (HEAD responses
    // have no body; a 2xx to CONNECT starts a tunnel). Set before each response.
    SLUICE_DECL void response_to(verb v) noexcept;

    // Back to the start of a message (e.g. after a declined upgrade, or to reuse).
    SLUICE_DECL void reset() noexcept;

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
        // chunk-ext (RFC 9112 7.1.1), one state per place in the grammar
        s_chunk_size_ws,     // BWS after the size: only ";" may follow
        s_chunk_ext_name0,   // after ";" and BWS: a token must start
        s_chunk_ext_name,    // in the name
        s_chunk_ext_name_ws, // BWS after the name: "=" or ";" must follow
        s_chunk_ext_val0,    // after "=" and BWS: a token or quoted-string must start
        s_chunk_ext_val,     // in a token value
        s_chunk_ext_quoted,  // in a quoted-string
        s_chunk_ext_escape,  // after a backslash in a quoted-string
        s_chunk_ext_val_end, // right after the closing quote
        s_chunk_ext_val_ws,  // BWS after a value: only ";" may follow
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
        b_line_seen = 8,    // the first LF of the head has been found by the scan
        b_fold = 0x10,      // the field line being checked is an obs-fold continuation
        b_line_long = 0x40, // that first line is longer than max_request_line
    };
    // Where scan_head stands in a head or trailer section (hstate_), one state per place in
    // the grammar; parse_head leaves the same state when it runs out of bytes.
    enum : std::uint8_t {
        h_method0, // request line: nothing of the method yet
        h_method,
        h_target0, // after the SP that ends the method
        h_target,
        h_v0, // h_v0 + k: k bytes of "HTTP/d.d" seen (h_v0 ... h_v7)
        h_v7 = h_v0 + 7,
        h_rl_end,                // after a request's version: CR (or LF)
        h_line_cr,               // after the CR that ends the request or status line
        h_sp,                    // after a response's version: SP
        h_d0,                    // h_d0 + k: k status digits seen
        h_status_end = h_d0 + 3, // SP, CR (or LF)
        h_reason,
        f_line,     // start of a field line (count_ fields so far)
        f_blank_cr, // after the CR of the blank line
        f_name,
        f_value, // from the colon (or the fold) to the line end
        f_cr,    // after the CR that ends a field line
    };
    static constexpr std::size_t k_bad = ~std::size_t(0);

    bool is_response() const noexcept { return bits_ & b_response; }
    bool allow(unsigned f) const noexcept { return lenient_ & f; }

    SLUICE_DECL result fail(http::error e) noexcept;

    SLUICE_DECL result done(std::size_t consumed) noexcept;

    // Checks the head or trailer section bytes [scanned_, n) from state hstate_, so each byte
    // is looked at once however the bytes arrive. Returns the section length once its blank
    // line is in, 0 if more is needed, or k_bad with scanned_ just past the first byte no
    // valid section can hold: parsing the bytes up to there then names the error.
    SLUICE_DECL std::size_t scan_head(const char* data, std::size_t n, bool count) noexcept;

    // Header fields the section may hold (the trailers share the caller's array).
    SLUICE_DECL std::uint32_t field_cap() const noexcept;

    SLUICE_DECL result feed_head(const char* data, std::size_t len) noexcept;

    SLUICE_DECL result head_done(std::size_t consumed) noexcept;

    // >0: head length; 0: incomplete (hstate_, count_ and b_fold then describe where it
    // stopped, for scan_head to resume); <0: error (err_ set, state_ = s_error). Every
    // error is reported as soon as the bytes up to it are there, so a prefix fails with
    // the code the whole head fails with.
    SLUICE_DECL long parse_head(const char* buf, std::size_t len, bool at_limit) noexcept;

    SLUICE_DECL long bad(http::error e) noexcept;

    // "HTTP/1.x" at p, checked as far as the bytes before end go. 1 complete (sets the
    // minor version), 0 a valid prefix, -1 error (bad_version or version_not_supported).
    SLUICE_DECL long version(const char* p, const char* end) noexcept;

    // Field lines up to and including the blank line. 1 done, 0 more, -1 error.
    SLUICE_DECL long parse_fields(const char*& pr, const char* end, header* hs, std::uint32_t cap,
                      std::uint32_t& n) noexcept;

    // Framing and connection rules of RFC 9112 6 and 9.
    SLUICE_DECL bool apply_semantics(message& m) noexcept;

    SLUICE_DECL result feed_chunked(const char* data, std::size_t len) noexcept;

    SLUICE_DECL result feed_trailers(const char* data, std::size_t len) noexcept;

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
    std::uint8_t hstate_ = 0;
};

} // namespace http
} // namespace sluice

#if SLUICE_COMPILE_BODIES
#include <sluice/http/impl/parser.ipp>
#endif
