// sluice — out-of-line bodies of sluice/http/serializer.hpp: compiled in every translation unit
// when header-only, only in the SLUICE_IMPLEMENTATION one under SLUICE_SEPARATE_COMPILATION.
#pragma once

#include <sluice/http/serializer.hpp>

namespace sluice {
namespace http {
namespace detail {

SLUICE_DECL std::size_t format_uint(std::uint64_t v, char* out, unsigned base) noexcept {
    char tmp[24];
    std::size_t n = 0;
    do {
        unsigned d = static_cast<unsigned>(v % base);
        tmp[n++] = static_cast<char>(d < 10 ? '0' + d : 'A' + d - 10);
        v /= base;
    } while (v);
    for (std::size_t i = 0; i < n; ++i) out[i] = tmp[n - 1 - i];
    return n;
}

SLUICE_DECL bool valid_token(std::string_view s) noexcept {
    if (s.empty()) return false;
    for (char c : s)
        if (!has(static_cast<unsigned char>(c), c_token)) return false;
    return true;
}

SLUICE_DECL bool valid_value(std::string_view s) noexcept {
    for (char c : s)
        if (!has(static_cast<unsigned char>(c), c_text)) return false;
    return true;
}
} // namespace detail
} // namespace http
} // namespace sluice

namespace sluice {
namespace http {

SLUICE_DECL std::string_view reason_phrase(unsigned status) noexcept {
    switch (status) {
    case 100:
        return "Continue";
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 417:
        return "Expectation Failed";
    case 426:
        return "Upgrade Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "";
    }
}

SLUICE_DECL void format_imf_fixdate(std::int64_t unix_seconds,
                                    char out[imf_fixdate_size]) noexcept {
    std::int64_t days = unix_seconds / 86400, secs = unix_seconds % 86400;
    if (secs < 0) secs += 86400, --days;
    // Civil date from days since 1970-01-01 (era-based, proleptic Gregorian).
    std::int64_t z = days + 719468;
    std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    std::int64_t doe = z - era * 146097;
    std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    std::int64_t y = yoe + era * 400;
    std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    std::int64_t mp = (5 * doy + 2) / 153;
    std::int64_t d = doy - (153 * mp + 2) / 5 + 1;
    std::int64_t m = mp < 10 ? mp + 3 : mp - 9;
    if (m <= 2) ++y;
    static constexpr char wd[] = "ThuFriSatSunMonTueWed"; // 1970-01-01 was a Thursday
    static constexpr char mo[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    std::int64_t w = days % 7;
    if (w < 0) w += 7;
    auto two = [](char* o, std::int64_t v) {
        o[0] = static_cast<char>('0' + v / 10);
        o[1] = static_cast<char>('0' + v % 10);
    };
    std::memcpy(out, wd + w * 3, 3);
    out[3] = ',';
    out[4] = ' ';
    two(out + 5, d);
    out[7] = ' ';
    std::memcpy(out + 8, mo + (m - 1) * 3, 3);
    out[11] = ' ';
    std::int64_t yy = y < 0 ? 0 : (y > 9999 ? 9999 : y);
    two(out + 12, yy / 100);
    two(out + 14, yy % 100);
    out[16] = ' ';
    two(out + 17, secs / 3600);
    out[19] = ':';
    two(out + 20, secs / 60 % 60);
    out[22] = ':';
    two(out + 23, secs % 60);
    std::memcpy(out + 25, " GMT", 4);
}
} // namespace http
} // namespace sluice
