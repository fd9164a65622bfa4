// sluice — bodies of http/static_files.hpp.
#pragma once

#include <sluice/http/static_files.hpp>
#include <sluice/http/url.hpp>

#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {
namespace http {
namespace static_detail {

// Helpers of this file only: named and inline, not an unnamed namespace, which in a
// header gives every unit its own copy and made an empty unit emit them
// (headers.emit_nothing_unused).
namespace files_impl {

inline constexpr std::uint64_t no_value = std::numeric_limits<std::uint64_t>::max();

inline std::string_view trim_ows(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// Leading decimal digits of `s`, saturating (a length past 2^64 is unsatisfiable
// anyway); `s` is advanced past them. False when there is none.
inline bool take_digits(std::string_view& s, std::uint64_t& v) noexcept {
    std::size_t i = 0;
    v = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
        const unsigned d = static_cast<unsigned>(s[i] - '0');
        v = v > (no_value - d) / 10 ? no_value : v * 10 + d;
        ++i;
    }
    s.remove_prefix(i);
    return i > 0;
}

inline bool iequal(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
        if (x != y) return false;
    }
    return true;
}

inline int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Days since 1970-01-01 of a proleptic Gregorian date, and back (the usual
// era-of-400-years arithmetic).
inline std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) noexcept {
    y -= m <= 2;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

inline void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) noexcept {
    z += 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2);
}

inline constexpr const char* week_days[7] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
inline constexpr const char* month_names[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

inline bool two_digits(std::string_view s, std::size_t at, unsigned& v) noexcept {
    if (at + 2 > s.size() || s[at] < '0' || s[at] > '9' || s[at + 1] < '0' || s[at + 1] > '9')
        return false;
    v = static_cast<unsigned>((s[at] - '0') * 10 + (s[at + 1] - '0'));
    return true;
}

// The file's real path is the root's, or below it.
inline bool inside(const static_root& root, const std::string& real) noexcept {
    const std::string& r = root.root_real;
    if (real.size() < r.size() || real.compare(0, r.size(), r) != 0) return false;
    if (real.size() == r.size()) return true;
    return r == "/" || real[r.size()] == '/';
}

inline void answer(response& res, unsigned status, std::string_view text) {
    res.status(status).header("Content-Type", "text/plain; charset=utf-8").end(text);
}

// A body larger than one chunk, read and written piece by piece as the connection drains.
struct transfer {
    platform::read_file file;
    std::uint64_t offset = 0;
    std::uint64_t left = 0;
    std::vector<char> chunk;
    response res;
};

// One chunk read and written (copied into the connection's output). False when the
// response is over: ended (a failed or short read cuts it, which closes the connection)
// or no longer writable.
inline bool copy_chunk(transfer& t) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(t.left, t.chunk.size()));
    const long long got = t.file.read_at(t.chunk.data(), want, t.offset);
    if (got <= 0) {
        t.res.end(); // short of Content-Length: the response closes the connection
        return false;
    }
    if (!t.res.write(std::string_view(t.chunk.data(), static_cast<std::size_t>(got)))) return false;
    t.offset += static_cast<std::uint64_t>(got);
    t.left -= static_cast<std::uint64_t>(got);
    return true;
}

inline void pump(const std::shared_ptr<transfer>& t) {
#if SLUICE_HAS_SENDFILE
    // Zero-copy while this response is at the front of the connection and nothing is
    // queued ahead: sendfile(2) from the file to the socket. The head goes first through
    // the response (during the handler's call it waits in the pass's output: the first
    // wait_flushed() lets it out). When the socket is full, one chunk is copied instead:
    // queued, it turns the wait for an empty queue into a wait for the socket.
    while (t->left > 0 && t->res.is_open()) {
        if (!t->res.head_sent() && !t->res.write(std::string_view())) return;
        const long long sent = t->res.send_file(t->file.native(), t->offset,
                                                static_cast<std::size_t>(std::min<std::uint64_t>(
                                                    t->left, std::uint64_t(1) << 30)));
        if (sent < 0) return; // the connection failed
        if (sent > 0) {
            t->offset += static_cast<std::uint64_t>(sent);
            t->left -= static_cast<std::uint64_t>(sent);
            continue;
        }
        if (t->res.output_idle() && !copy_chunk(*t)) return; // the socket is full
        if (t->left == 0) break;
        if (t->res.wait_flushed([t] { pump(t); })) return;
        break; // behind another response (pipelined): copied, as below
    }
#endif
    while (t->left > 0) {
        if (!t->res.is_open()) return;
        if (t->res.write_queue_high()) {
            t->res.on_drain([t] { pump(t); });
            return;
        }
        if (!copy_chunk(*t)) return;
    }
    t->res.end();
}

} // namespace files_impl
using namespace files_impl;

SLUICE_DECL range_kind parse_range(std::string_view field, std::uint64_t size, byte_range& out) {
    field = trim_ows(field);
    const std::size_t eq = field.find('=');
    if (eq == std::string_view::npos || !iequal(trim_ows(field.substr(0, eq)), "bytes"))
        return range_kind::whole;
    std::string_view spec = trim_ows(field.substr(eq + 1));
    if (spec.find(',') != std::string_view::npos) return range_kind::whole; // several
    std::uint64_t first = 0, last = 0;
    if (!spec.empty() && spec.front() == '-') { // the last n bytes
        spec.remove_prefix(1);
        std::uint64_t n;
        if (!take_digits(spec, n) || !spec.empty()) return range_kind::whole;
        if (n == 0 || size == 0) return range_kind::unsatisfiable;
        out.length = std::min(n, size);
        out.first = size - out.length;
        return range_kind::partial;
    }
    if (!take_digits(spec, first) || spec.empty() || spec.front() != '-') return range_kind::whole;
    spec.remove_prefix(1);
    last = no_value;
    if (!spec.empty() && (!take_digits(spec, last) || !spec.empty())) return range_kind::whole;
    if (last < first) return range_kind::whole; // invalid: ignored (RFC 9110 §14.1.1)
    if (first >= size) return range_kind::unsatisfiable;
    last = std::min(last, size - 1);
    out.first = first;
    out.length = last - first + 1;
    return range_kind::partial;
}

SLUICE_DECL bool raw_path_clean(std::string_view raw) noexcept {
    for (std::size_t i = 0; i < raw.size(); ++i) {
        if (raw[i] == '\\' || raw[i] == '\0') return false;
        if (raw[i] != '%') continue;
        if (i + 2 >= raw.size()) return false;
        const int hi = hex_value(raw[i + 1]), lo = hex_value(raw[i + 2]);
        if (hi < 0 || lo < 0) return false;
        const int c = hi * 16 + lo;
        if (c == '/' || c == '\\' || c == 0) return false;
        i += 2;
    }
    return true;
}

SLUICE_DECL bool decoded_relative_path(std::string_view decoded, std::string& out) {
    out.clear();
    std::size_t i = 0;
    while (i <= decoded.size()) {
        std::size_t j = decoded.find('/', i);
        if (j == std::string_view::npos) j = decoded.size();
        const std::string_view seg = decoded.substr(i, j - i);
        if (!seg.empty()) {
            if (seg.find_first_of(std::string_view("\\:\0", 3)) != std::string_view::npos)
                return false;
            // ".", "..", and what Windows strips down to them ("...", ". .").
            if (seg.find_first_not_of(". ") == std::string_view::npos) return false;
            if (!out.empty()) out += '/';
            out.append(seg.data(), seg.size());
        }
        i = j + 1;
    }
    if (!out.empty() && !decoded.empty() && decoded.back() == '/') out += '/';
    return true;
}

SLUICE_DECL bool relative_path(std::string_view raw, std::string& out) {
    out.clear();
    if (raw.empty() || raw.front() != '/' || !raw_path_clean(raw)) return false;
    std::string decoded;
    if (percent_decode(raw, decoded)) return false;
    return decoded_relative_path(decoded, out);
}

SLUICE_DECL void format_http_date(std::int64_t t, char out[29]) noexcept {
    std::int64_t days = t / 86400, secs = t % 86400;
    if (secs < 0) {
        secs += 86400;
        --days;
    }
    std::int64_t y;
    unsigned m, d;
    civil_from_days(days, y, m, d);
    if (y < 0) y = 0;
    if (y > 9999) y = 9999;
    const char* wd = week_days[((days % 7) + 7) % 7];
    auto put2 = [](char* p, unsigned v) {
        p[0] = static_cast<char>('0' + v / 10);
        p[1] = static_cast<char>('0' + v % 10);
    };
    std::memcpy(out, wd, 3);
    out[3] = ',';
    out[4] = ' ';
    put2(out + 5, d);
    out[7] = ' ';
    std::memcpy(out + 8, month_names[m - 1], 3);
    out[11] = ' ';
    put2(out + 12, static_cast<unsigned>(y / 100));
    put2(out + 14, static_cast<unsigned>(y % 100));
    out[16] = ' ';
    put2(out + 17, static_cast<unsigned>(secs / 3600));
    out[19] = ':';
    put2(out + 20, static_cast<unsigned>(secs / 60 % 60));
    out[22] = ':';
    put2(out + 23, static_cast<unsigned>(secs % 60));
    std::memcpy(out + 25, " GMT", 4);
}

SLUICE_DECL bool parse_http_date(std::string_view s, std::int64_t& t) noexcept {
    // "Sun, 06 Nov 1994 08:49:37 GMT"
    if (s.size() != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' ||
        s[16] != ' ' || s[19] != ':' || s[22] != ':' || s.substr(25) != " GMT")
        return false;
    unsigned d, yh, yl, hh, mm, ss;
    if (!two_digits(s, 5, d) || !two_digits(s, 12, yh) || !two_digits(s, 14, yl) ||
        !two_digits(s, 17, hh) || !two_digits(s, 20, mm) || !two_digits(s, 23, ss))
        return false;
    unsigned m = 0;
    while (m < 12 && s.substr(8, 3) != month_names[m]) ++m;
    if (m == 12 || d < 1 || d > 31 || hh > 23 || mm > 59 || ss > 60) return false;
    const std::int64_t y = yh * 100 + yl;
    const std::int64_t days = days_from_civil(y, m + 1, d);
    std::int64_t back_y;
    unsigned back_m, back_d;
    civil_from_days(days, back_y, back_m, back_d);
    if (back_d != d || back_m != m + 1) return false; // 31 Feb
    if (s.substr(0, 3) != week_days[((days % 7) + 7) % 7]) return false;
    t = days * 86400 + hh * 3600 + mm * 60 + (ss == 60 ? 59 : ss);
    return true;
}

SLUICE_DECL std::string make_etag(std::uint64_t size, std::int64_t mtime_sec,
                                  std::uint32_t mtime_nsec) {
    const auto ns = static_cast<std::uint64_t>(mtime_sec) * 1000000000u + mtime_nsec;
    char buf[64];
    std::size_t n = 0;
    auto hex = [&](std::uint64_t v) {
        char tmp[16];
        std::size_t k = 0;
        do {
            tmp[k++] = "0123456789abcdef"[v & 15];
            v >>= 4;
        } while (v);
        while (k) buf[n++] = tmp[--k];
    };
    buf[n++] = 'W';
    buf[n++] = '/';
    buf[n++] = '"';
    hex(size);
    buf[n++] = '-';
    hex(ns);
    buf[n++] = '"';
    return std::string(buf, n);
}

SLUICE_DECL bool none_match_hits(std::string_view field, std::string_view etag) noexcept {
    auto opaque = [](std::string_view tag) {
        if (tag.size() >= 2 && tag[0] == 'W' && tag[1] == '/') tag.remove_prefix(2);
        return tag;
    };
    const std::string_view mine = opaque(etag);
    field = trim_ows(field);
    if (field == "*") return true;
    while (!field.empty()) {
        const std::size_t comma = field.find(',');
        const std::string_view tag = trim_ows(field.substr(0, comma));
        if (!tag.empty() && opaque(tag) == mine) return true; // weak comparison
        if (comma == std::string_view::npos) break;
        field.remove_prefix(comma + 1);
    }
    return false;
}

SLUICE_DECL std::string_view content_type(std::string_view path) noexcept {
    static constexpr struct {
        const char* ext;
        const char* type;
    } table[] = {
        {"html", "text/html; charset=utf-8"},  {"htm", "text/html; charset=utf-8"},
        {"css", "text/css; charset=utf-8"},    {"js", "text/javascript; charset=utf-8"},
        {"mjs", "text/javascript; charset=utf-8"}, {"json", "application/json"},
        {"txt", "text/plain; charset=utf-8"},  {"svg", "image/svg+xml"},
        {"png", "image/png"},                  {"jpg", "image/jpeg"},
        {"jpeg", "image/jpeg"},                {"gif", "image/gif"},
        {"webp", "image/webp"},                {"ico", "image/x-icon"},
        {"wasm", "application/wasm"},          {"pdf", "application/pdf"},
        {"xml", "application/xml"},            {"mp4", "video/mp4"},
        {"woff2", "font/woff2"},
    };
    const std::size_t slash = path.rfind('/');
    const std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
    const std::size_t dot = name.rfind('.');
    if (dot != std::string_view::npos && dot > 0) {
        const std::string_view ext = name.substr(dot + 1);
        for (const auto& e : table)
            if (iequal(ext, e.ext)) return e.type;
    }
    return "application/octet-stream";
}

SLUICE_DECL void serve_file(const static_root& root, const request_view& v, bool safe,
                            std::string_view rel, response& res) {
    const bool head = v.verb() == verb::head;
    if (!head && v.verb() != verb::get) {
        res.header("Allow", "GET, HEAD");
        return answer(res, 405, "Method Not Allowed\n");
    }
    if (!root.usable || !safe) return answer(res, 404, "Not Found\n");
    const bool dir_request = rel.empty() || rel.back() == '/';
    std::string wanted = root.root_real;
    if (!rel.empty()) {
        wanted += '/';
        wanted.append(rel.data(), dir_request ? rel.size() - 1 : rel.size());
    }
    std::string real;
    if (platform::real_path(wanted, real) || !inside(root, real))
        return answer(res, 404, "Not Found\n");
    platform::read_file file;
    platform::file_status st;
    if (platform::path_status(real, st)) return answer(res, 404, "Not Found\n");
    if (st.directory) {
        if (!dir_request) { // "/sub" -> "/sub/", so the page's relative links resolve
            std::string location(v.path());
            location += '/';
            if (!v.query().empty()) {
                location += '?';
                location.append(v.query().data(), v.query().size());
            }
            res.header("Location", location);
            return answer(res, 301, "Moved Permanently\n");
        }
        if (root.settings.index_file.empty()) return answer(res, 404, "Not Found\n");
        wanted = real + "/" + root.settings.index_file;
        if (platform::real_path(wanted, real) || !inside(root, real))
            return answer(res, 404, "Not Found\n");
    }
    // The size and time served are those of the file opened, not of the path checked.
    if (file.open(real) || file.status(st)) return answer(res, 404, "Not Found\n");
    if (!st.regular) return answer(res, 404, "Not Found\n");
    if (st.size > root.settings.max_file_size) return answer(res, 403, "Forbidden\n");

    const std::string etag = make_etag(st.size, st.mtime_sec, st.mtime_nsec);
    char modified[29];
    format_http_date(st.mtime_sec, modified);
    const std::string_view last_modified(modified, sizeof modified);
    res.header("ETag", etag).header("Last-Modified", last_modified);
    if (!root.settings.cache_control.empty())
        res.header("Cache-Control", root.settings.cache_control);

    // Conditionals (RFC 9110 §13.2.2): If-None-Match decides alone when present.
    const std::string_view inm = v.get("If-None-Match");
    bool not_modified = false;
    if (!inm.empty()) {
        not_modified = none_match_hits(inm, etag);
    } else {
        std::int64_t since;
        if (parse_http_date(trim_ows(v.get("If-Modified-Since")), since))
            not_modified = st.mtime_sec <= since;
    }
    if (not_modified) return res.status(304).end();

    res.header("Accept-Ranges", "bytes").header("Content-Type", content_type(real));
    byte_range range{0, st.size};
    range_kind kind = range_kind::whole;
    const std::string_view range_field = v.get("Range");
    if (!head && !range_field.empty()) { // a Range on HEAD is ignored (RFC 9110 §14.2)
        kind = parse_range(range_field, st.size, range);
        const std::string_view if_range = trim_ows(v.get("If-Range"));
        if (kind != range_kind::whole && !if_range.empty()) {
            // Our ETag is weak: an entity tag never matches strongly. A date matches
            // only the exact Last-Modified.
            std::int64_t when;
            if (if_range.front() == '"' || if_range.substr(0, 2) == "W/" ||
                !parse_http_date(if_range, when) || when != st.mtime_sec) {
                kind = range_kind::whole;
                range = byte_range{0, st.size};
            }
        }
    }
    if (kind == range_kind::unsatisfiable) {
        res.header("Content-Range", "bytes */" + std::to_string(st.size));
        return res.status(416).end();
    }
    if (kind == range_kind::partial) {
        res.status(206).header("Content-Range",
                               "bytes " + std::to_string(range.first) + "-" +
                                   std::to_string(range.first + range.length - 1) + "/" +
                                   std::to_string(st.size));
    }
    res.content_length(range.length);
    if (head || range.length == 0) return res.end();

    const std::size_t chunk = std::max<std::size_t>(root.settings.chunk_size, 1);
    if (range.length <= chunk) { // one read, one write
        std::string body(static_cast<std::size_t>(range.length), '\0');
        std::size_t have = 0;
        while (have < body.size()) {
            const long long got = file.read_at(&body[have], body.size() - have, range.first + have);
            if (got <= 0) break;
            have += static_cast<std::size_t>(got);
        }
        // A short read leaves a body shorter than Content-Length: the response makes
        // that a 500 (nothing was sent yet).
        body.resize(have);
        return res.end(body);
    }
    auto t = std::make_shared<transfer>();
    t->file = std::move(file);
    t->offset = range.first;
    t->left = range.length;
    t->chunk.resize(chunk);
    t->res = std::move(res);
    pump(t);
}

} // namespace static_detail
} // namespace http
} // namespace sluice
