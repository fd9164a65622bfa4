// sluice — out-of-line bodies of sluice/http/parser.hpp: compiled in every translation unit when
// header-only, only in the SLUICE_IMPLEMENTATION one under SLUICE_SEPARATE_COMPILATION.
#pragma once

#include <sluice/http/parser.hpp>

namespace sluice {
namespace http {

SLUICE_DECL result parser::feed(const char* data, std::size_t len) noexcept {
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

SLUICE_DECL result parser::finish(const char* data, std::size_t len) noexcept {
    if (state_ == s_head && scanned_ != 0 && len >= scanned_) {
        std::size_t n = len < max_head_ ? len : max_head_;
        if (parse_head(data, n, false) < 0) return {event::error, 0, {}};
    }
    return finish();
}

SLUICE_DECL result parser::finish() noexcept {
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

SLUICE_DECL void parser::response_to(verb v) noexcept {
    bits_ = static_cast<std::uint8_t>(bits_ & ~(b_resp_head | b_resp_connect));
    if (v == verb::head) bits_ |= b_resp_head;
    if (v == verb::connect) bits_ |= b_resp_connect;
}

SLUICE_DECL void parser::reset() noexcept {
    state_ = s_head;
    scanned_ = 0;
    bits_ &= b_response;
    err_ = 0;
}

SLUICE_DECL result parser::fail(http::error e) noexcept {
    err_ = static_cast<std::uint8_t>(e);
    state_ = s_error;
    return {event::error, 0, {}};
}

SLUICE_DECL result parser::done(std::size_t consumed) noexcept {
    state_ = msg_->upgrade() ? s_upgraded : s_head;
    scanned_ = 0;
    bits_ &= b_response;
    return {event::done, consumed, {}};
}

SLUICE_DECL std::uint32_t parser::field_cap() const noexcept {
    const message& m = *msg_;
    std::uint32_t cap = m.header_capacity < max_headers_ ? m.header_capacity : max_headers_;
    if (state_ == s_trailers) cap = cap > m.num_headers ? cap - m.num_headers : 0;
    return cap;
}

// The same grammar as parse_head and parse_fields, byte by byte: every byte either moves
// on or is the first one those would refuse. Long runs (target, names, values, reason)
// go through the same bulk scanners they use.
SLUICE_DECL std::size_t parser::scan_head(const char* data, std::size_t n, bool count) noexcept {
    const char* p = data + scanned_;
    const char* const e = data + n;
    if (count) work_ += static_cast<std::uint64_t>(e - p);
    const bool lf_ok = allow(lenient::bare_lf);
    const unsigned char tcls = allow(lenient::target_chars) ? detail::c_vtarget : detail::c_target;
    unsigned st = hstate_;
    auto bad_at = [&](const char* q) {
        scanned_ = static_cast<std::uint32_t>(q - data + 1);
        return k_bad;
    };
    // The LF that ends the request or status line: measure it as the old scan did.
    auto line_seen = [&](const char* lf) {
        bits_ |= b_line_seen;
        if (!is_response() && static_cast<std::size_t>(lf - data) > max_line_ + 1u)
            bits_ |= b_line_long;
        count_ = 0;
        bits_ &= static_cast<std::uint8_t>(~b_fold);
    };
    while (p < e) {
        const unsigned char c = static_cast<unsigned char>(*p);
        switch (st) {
        case h_method0:
            if (!detail::has(c, detail::c_token)) return bad_at(p);
            st = h_method;
            ++p;
            break;
        case h_method:
            p = detail::scan_class(p, e, detail::c_token);
            if (p == e) break;
            if (*p != ' ') return bad_at(p);
            st = h_target0;
            ++p;
            break;
        case h_target0:
            if (!detail::has(c, tcls)) return bad_at(p);
            st = h_target;
            ++p;
            break;
        case h_target:
            p = detail::scan_class(p, e, tcls);
            if (p == e) break;
            if (*p != ' ') return bad_at(p);
            st = h_v0;
            ++p;
            break;
        case h_rl_end:
        case h_status_end:
            if (c == '\r') {
                st = h_line_cr;
            } else if (c == '\n' && lf_ok) {
                line_seen(p);
                st = f_line;
            } else if (c == ' ' && st == h_status_end) {
                st = h_reason;
            } else {
                return bad_at(p);
            }
            ++p;
            break;
        case h_reason:
            p = detail::find_value_end(p, e);
            if (p == e) break;
            if (*p == '\r') {
                st = h_line_cr;
            } else if (*p == '\n' && lf_ok) {
                line_seen(p);
                st = f_line;
            } else {
                return bad_at(p);
            }
            ++p;
            break;
        case h_line_cr:
            if (c != '\n') return bad_at(p);
            line_seen(p);
            st = f_line;
            ++p;
            break;
        case h_sp:
            if (c != ' ') return bad_at(p);
            st = h_d0;
            ++p;
            break;
        case h_d0:
        case h_d0 + 1:
        case h_d0 + 2:
            // a status below 100 is refused at its first digit
            if (static_cast<unsigned>(c - '0') > 9u || (st == h_d0 && c == '0')) return bad_at(p);
            ++st;
            ++p;
            break;
        case f_line:
            if (c == '\r') {
                st = f_blank_cr;
            } else if (c == '\n') {
                if (!lf_ok) return bad_at(p);
                return static_cast<std::size_t>(p + 1 - data);
            } else if (c == ' ' || c == '\t') {
                if (!allow(lenient::obs_fold) || count_ == 0) return bad_at(p);
                bits_ |= b_fold;
                st = f_value;
            } else if (detail::has(c, detail::c_token)) {
                bits_ &= static_cast<std::uint8_t>(~b_fold);
                st = f_name;
            } else {
                return bad_at(p);
            }
            ++p;
            break;
        case f_blank_cr:
            if (c != '\n') return bad_at(p);
            return static_cast<std::size_t>(p + 1 - data);
        case f_name:
            p = detail::scan_class(p, e, detail::c_token);
            if (p == e) break;
            if (*p != ':') return bad_at(p);
            st = f_value;
            ++p;
            break;
        case f_value:
            p = detail::find_value_end(p, e);
            if (p == e) break;
            if (*p == '\r') {
                st = f_cr;
                ++p;
                break;
            }
            if (*p != '\n' || !lf_ok) return bad_at(p);
            goto field_end;
        case f_cr:
            if (c != '\n') return bad_at(p);
        field_end:
            // parse_fields counts a field once its line has ended
            if (!(bits_ & b_fold)) {
                if (count_ >= field_cap()) return bad_at(p);
                ++count_;
            }
            st = f_line;
            ++p;
            break;
        default: { // h_v0 ... h_v7: "HTTP/" DIGIT "." DIGIT, major version 1
            const unsigned k = st - h_v0;
            bool ok = k < 5    ? c == static_cast<unsigned char>("HTTP/"[k])
                      : k == 6 ? c == '.'
                               : static_cast<unsigned>(c - '0') <= 9u;
            if (!ok || (k == 7 && p[-2] != '1')) return bad_at(p);
            st = k < 7 ? st + 1 : is_response() ? unsigned(h_sp) : unsigned(h_rl_end);
            ++p;
            break;
        }
        }
    }
    scanned_ = static_cast<std::uint32_t>(n);
    hstate_ = static_cast<std::uint8_t>(st);
    return 0;
}

SLUICE_DECL result parser::feed_head(const char* data, std::size_t len) noexcept {
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
        // Optimistic: most heads arrive whole, so parse straight away. If they do not,
        // parse_head has left hstate_ where it stopped, and scan_head goes on from there.
        work_ += n;
        long r = parse_head(data, n, len >= cap);
        if (r > 0) return head_done(static_cast<std::size_t>(r) + skipped);
        if (r < 0) return {event::error, 0, {}};
        scanned_ = static_cast<std::uint32_t>(n);
        return {event::need_more, skipped, {}};
    }
    if (n < scanned_) return {event::need_more, 0, {}}; // caller lost bytes: wait
    std::size_t end = scan_head(data, n, true);
    if (end == k_bad) {
        // The first byte no head may hold: the bytes up to it fail as the whole head
        // would, so a parse of just those names the error.
        work_ += scanned_;
        if (parse_head(data, scanned_, false) < 0) return {event::error, 0, {}};
        return fail(is_response() ? error::bad_status_line : error::bad_request_line);
    }
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

SLUICE_DECL result parser::head_done(std::size_t consumed) noexcept {
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

SLUICE_DECL long parser::parse_head(const char* buf, std::size_t len, bool at_limit) noexcept {
    message& m = *msg_;
    const char* p = buf;
    const char* const end = buf + len;
    // A request line is read no further than max_request_line + CRLF: an incremental
    // caller sees no more of it before the limit fails it, and a one-shot parse must
    // report the same first problem (a bad byte past the limit is not reached).
    const char* lim = end;
    if (!is_response() && len > max_line_ + 2u) lim = buf + max_line_ + 2;
    m.method = m.target = m.reason = std::string_view();
    m.content_length = 0;
    m.num_headers = m.num_trailers = 0;
    m.status = 0;
    m.verb = verb::other;
    m.version_minor = 1;
    m.flags = 0;

    // The request or status line is cut short at `end`, in state `at` of scan_head.
    auto more_line = [&](unsigned at) -> long {
        hstate_ = static_cast<std::uint8_t>(at);
        if (!is_response() && (len > max_line_ + 1u || at_limit))
            return bad(error::request_line_too_long);
        if (at_limit) return bad(error::head_too_large);
        return 0;
    };
    // After the version (request) or the status or reason (response): CRLF.
    auto line_end = [&](http::error other, unsigned at) -> long { // 1 ok, 0 more, -1 error
        if (p == lim) return more_line(at);
        if (*p == '\r') {
            if (lim - p < 2) return more_line(h_line_cr);
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
        p = detail::scan_class(p, lim, detail::c_token);
        if (p == lim) return more_line(p == m0 ? h_method0 : h_method);
        if (*p != ' ' || p == m0) return bad(*p == 0 ? error::nul_byte : error::bad_method);
        m.method = std::string_view(m0, static_cast<std::size_t>(p - m0));
        m.verb = to_verb(m.method);
        const char* t0 = ++p;
        p = detail::scan_class(p, lim,
                               allow(lenient::target_chars) ? detail::c_vtarget : detail::c_target);
        if (p == lim) return more_line(p == t0 ? h_target0 : h_target);
        if (*p != ' ' || p == t0) return bad(*p == 0 ? error::nul_byte : error::bad_target);
        m.target = std::string_view(t0, static_cast<std::size_t>(p - t0));
        ++p;
        long v = version(p, lim);
        if (v < 0) return v;
        if (v == 0) return more_line(h_v0 + static_cast<unsigned>(lim - p));
        p += 8;
        long r = line_end(error::bad_version, h_rl_end);
        if (r <= 0) return r;
        if (static_cast<std::size_t>(p - buf) > max_line_ + 2u)
            return bad(error::request_line_too_long);
    } else {
        long v = version(p, end);
        if (v < 0)
            return err_ == static_cast<std::uint8_t>(error::version_not_supported)
                       ? v
                       : bad(error::bad_status_line);
        if (v == 0) return more_line(h_v0 + static_cast<unsigned>(end - p));
        p += 8;
        if (p == end) return more_line(h_sp);
        if (*p++ != ' ') return bad(error::bad_status_line);
        unsigned s = 0;
        for (unsigned i = 0; i < 3; ++i, ++p) {
            if (p == end) return more_line(h_d0 + i);
            unsigned d = static_cast<unsigned char>(*p) - '0';
            // below 100 exactly when the first digit is 0: refused right there
            if (d > 9 || (i == 0 && d == 0)) return bad(error::bad_status_line);
            s = s * 10 + d;
        }
        m.status = static_cast<std::uint16_t>(s);
        http::error after = error::bad_status_line;
        unsigned at = h_status_end;
        if (p != end && *p == ' ') {
            const char* r0 = ++p;
            p = detail::find_value_end(p, end);
            m.reason = std::string_view(r0, static_cast<std::size_t>(p - r0));
            after = error::bad_reason;
            at = h_reason;
        }
        long r = line_end(after, at);
        if (r <= 0) return r;
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

SLUICE_DECL long parser::bad(http::error e) noexcept {
    err_ = static_cast<std::uint8_t>(e);
    state_ = s_error;
    return -1;
}

SLUICE_DECL long parser::version(const char* p, const char* end) noexcept {
    // Byte by byte, so that a prefix that cannot become "HTTP/1.x" fails at once.
    const std::size_t k = end - p < 8 ? static_cast<std::size_t>(end - p) : 8;
    for (std::size_t i = 0; i < k; ++i) {
        unsigned char c = static_cast<unsigned char>(p[i]);
        bool ok = i < 5    ? c == static_cast<unsigned char>("HTTP/"[i])
                  : i == 6 ? c == '.'
                           : static_cast<unsigned>(c - '0') <= 9u;
        if (!ok) return bad(error::bad_version);
    }
    if (k < 8) return 0;
    if (p[5] != '1') return bad(error::version_not_supported);
    // RFC 9110 6.2: a higher minor version is handled as the highest we know.
    msg_->version_minor = static_cast<std::uint8_t>(p[7] == '0' ? 0 : 1);
    return 1;
}

SLUICE_DECL long parser::parse_fields(const char*& pr, const char* end, header* hs,
                                      std::uint32_t cap, std::uint32_t& n) noexcept {
    const char* p = pr;
    // Cut short at `end` in state `at` of scan_head (with the count and fold it needs).
    auto more = [&](unsigned at, bool fold) -> long {
        hstate_ = static_cast<std::uint8_t>(at);
        count_ = static_cast<std::uint16_t>(n);
        bits_ = static_cast<std::uint8_t>(fold ? bits_ | b_fold : bits_ & ~b_fold);
        return 0;
    };
    for (;;) {
        if (p == end) return more(f_line, false);
        unsigned char c = static_cast<unsigned char>(*p);
        if (c == '\r') {
            if (end - p < 2) return more(f_blank_cr, false);
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
            if (p == end) return more(f_name, false);
            if (*p != ':') {
                c = static_cast<unsigned char>(*p);
                if (c == ' ' || c == '\t') return bad(error::whitespace_before_colon);
                return bad(c == 0 ? error::nul_byte : error::bad_header_name);
            }
            if (p == n0) return bad(error::bad_header_name);
            name = std::string_view(n0, static_cast<std::size_t>(p - n0));
            ++p;
        }
        const bool fold = name.data() == nullptr;
        while (p < end && detail::is_ows(*p)) ++p;
        const char* v0 = p;
        p = detail::find_value_end(p, end);
        if (p == end) return more(f_value, fold);
        const char* ve = p;
        c = static_cast<unsigned char>(*p);
        if (c == '\r') {
            if (end - p < 2) return more(f_cr, fold);
            if (p[1] != '\n') return bad(error::bare_cr);
            p += 2;
        } else if (c == '\n') {
            if (!allow(lenient::bare_lf)) return bad(error::bare_lf);
            ++p;
        } else {
            return bad(c == 0 ? error::nul_byte : error::bad_header_value);
        }
        while (ve > v0 && detail::is_ows(ve[-1])) --ve;
        if (fold) { // obs-fold continuation (lenient)
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

SLUICE_DECL bool parser::apply_semantics(message& m) noexcept {
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
    // RFC 9110 9.3.6: "A CONNECT request message does not have content"; after its head
    // the bytes belong to the tunnel. A Content-Length or Transfer-Encoding on it would
    // make a peer that honours them read those bytes as a body while one that does not
    // (llhttp, for one, starts the tunnel right after a CONNECT head) passes them into
    // the tunnel: the two disagree on where the tunnel starts. Ignoring them is that
    // second reading; refusing (400) is the only one no peer can contradict.
    // Content-Length: 0 announces no content, so it is accepted.
    if (req && m.verb == verb::connect && (te || (cl && clv != 0)))
        return bad(error::connect_with_body), false;
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
        if (m.version_minor == 0) m.flags &= static_cast<std::uint8_t>(~message::f_expect_continue);
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
        if (m.verb == verb::connect || (has_upgrade && conn_upgrade)) m.flags |= message::f_upgrade;
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

// The chunk-size line follows RFC 9112 7.1.1 exactly:
//   chunk          = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//   chunk-ext      = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
//   chunk-ext-name = token
//   chunk-ext-val  = token / quoted-string
// BWS appears only before a ";" and around "=", so whitespace after the size or after an
// extension is accepted only when a ";" (or, after a name, "=") follows: "2 \r\n",
// "2;a \r\n" and "2 junk" are refused, as are an empty name ("2;"), "=" without a value,
// an unbalanced quote and any byte a quoted-string may not hold. Lenient parsers that
// skip to the CRLF let a proxy and a server disagree on where a chunk starts, the
// smuggling that strict framing exists to prevent. Every byte after the size counts
// against max_chunk_extension, checked before it can wrap.
SLUICE_DECL result parser::feed_chunked(const char* data, std::size_t len) noexcept {
    std::size_t i = 0;
    while (i < len) {
        unsigned char c = static_cast<unsigned char>(data[i]);
        bool line_done = false;
        if (state_ >= s_chunk_size_ws && state_ <= s_chunk_ext_val_ws) {
            // [BWS] ";" BWS name [BWS "=" BWS value], over and over, up to the CRLF
            const bool ws = c == ' ' || c == '\t';
            const bool tok = detail::has(c, detail::c_token);
            const bool eol = c == '\r' || c == '\n';
            const http::error bad_ext = c == 0                      ? error::nul_byte
                                        : state_ == s_chunk_size_ws ? error::bad_chunk_size
                                                                    : error::bad_chunk_extension;
            if (!eol) {
                if (count_ >= max_ext_) return fail(error::chunk_extension_too_long);
                ++count_;
            }
            switch (state_) {
            case s_chunk_size_ws:
            case s_chunk_ext_val_ws:
            case s_chunk_ext_name_ws:
                if (ws) break;
                if (c == ';') {
                    state_ = s_chunk_ext_name0;
                } else if (c == '=' && state_ == s_chunk_ext_name_ws) {
                    state_ = s_chunk_ext_val0;
                } else {
                    return fail(bad_ext);
                }
                break;
            case s_chunk_ext_name0:
                if (ws) break;
                if (!tok) return fail(bad_ext);
                state_ = s_chunk_ext_name;
                break;
            case s_chunk_ext_val0:
                if (ws) break;
                if (c == '"')
                    state_ = s_chunk_ext_quoted;
                else if (tok)
                    state_ = s_chunk_ext_val;
                else
                    return fail(bad_ext);
                break;
            case s_chunk_ext_quoted:
                // qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
                if (c == '"')
                    state_ = s_chunk_ext_val_end;
                else if (c == '\\')
                    state_ = s_chunk_ext_escape;
                else if (!detail::has(c, detail::c_text))
                    return fail(bad_ext);
                break;
            case s_chunk_ext_escape:
                // quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
                if (!detail::has(c, detail::c_text)) return fail(bad_ext);
                state_ = s_chunk_ext_quoted;
                break;
            default: // s_chunk_ext_name, s_chunk_ext_val, s_chunk_ext_val_end: the line may end
                if (c == '\r') {
                    state_ = s_chunk_size_lf;
                } else if (c == '\n') {
                    if (!allow(lenient::bare_lf)) return fail(error::bare_lf);
                    line_done = true;
                } else if (ws) {
                    state_ = state_ == s_chunk_ext_name ? s_chunk_ext_name_ws : s_chunk_ext_val_ws;
                } else if (c == ';') {
                    state_ = s_chunk_ext_name0;
                } else if (c == '=' && state_ == s_chunk_ext_name) {
                    state_ = s_chunk_ext_val0;
                } else if (!tok || state_ == s_chunk_ext_val_end) {
                    return fail(bad_ext);
                }
                break;
            }
            ++i;
        } else {
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
                    if (max_ext_ == 0) return fail(error::chunk_extension_too_long);
                    count_ = 1;
                    state_ = c == ';' ? s_chunk_ext_name0 : s_chunk_size_ws;
                } else {
                    return fail(error::bad_chunk_size);
                }
                ++i;
                break;
            }
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
        }
        if (line_done) {
            if (remaining_ == 0) {
                state_ = s_trailers;
                scanned_ = 0;
                hstate_ = f_line; // a blank line right away means no trailers
                count_ = 0;
                bits_ &= static_cast<std::uint8_t>(~b_fold);
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

SLUICE_DECL result parser::feed_trailers(const char* data, std::size_t len) noexcept {
    std::size_t n = len < max_head_ ? len : max_head_;
    if (n < scanned_) return {event::need_more, 0, {}};
    std::size_t end = scan_head(data, n, false);
    message& m = *msg_;
    const std::uint32_t cap = field_cap();
    std::uint32_t cnt = 0;
    const char* p = data;
    if (end == k_bad) { // the fields up to the first bad byte name the error
        if (parse_fields(p, data + scanned_, m.headers + m.num_headers, cap, cnt) < 0)
            return {event::error, 0, {}};
        return fail(error::bad_header_name);
    }
    if (end == 0) {
        if (len >= max_head_) return fail(error::head_too_large);
        return {event::need_more, 0, {}};
    }
    long r = parse_fields(p, data + end, m.headers + m.num_headers, cap, cnt);
    if (r < 0) return {event::error, 0, {}};
    if (r == 0) return fail(error::bad_chunk_end);
    m.num_trailers = cnt;
    return done(end);
}
} // namespace http
} // namespace sluice
