// sluice — out-of-line bodies of sluice/http/response.hpp: compiled in every translation unit when
// header-only, only in the SLUICE_IMPLEMENTATION one under SLUICE_SEPARATE_COMPILATION.
#pragma once

#include <sluice/http/response.hpp>

namespace sluice {
namespace http {

SLUICE_DECL response& response::operator=(response&& o) noexcept {
    if (this != &o) {
        reset();
        sl_ = std::move(o.sl_);
    }
    return *this;
}

SLUICE_DECL response& response::status(unsigned code, std::string_view reason) {
    if (!sl_ || sl_->head_sent || sl_->finished) return *this;
    if (code < 100 || code > 999) {
        sl_->bad_header = true;
        return *this;
    }
    sl_->status = static_cast<std::uint16_t>(code);
    if (reason.data() && http::detail::valid_value(reason))
        sl_->reason.assign(reason.data(), reason.size());
    else
        sl_->reason.clear();
    return *this;
}

SLUICE_DECL response& response::header(std::string_view name, std::string_view value) {
    if (!sl_ || sl_->head_sent || sl_->finished) return *this;
    if (http::detail::iequals(name, "content-length")) {
        // Kept as the body's size: 1*DIGIT (RFC 9110 §8.6), no sign, no overflow. Anything
        // else would be a lie on the wire: the response becomes a 500.
        std::uint64_t n = 0;
        bool ok = !value.empty() && value.size() <= 19;
        for (char ch : value) ok = ok && ch >= '0' && ch <= '9';
        if (ok)
            for (char ch : value) n = n * 10 + static_cast<std::uint64_t>(ch - '0');
        if (!ok) {
            sl_->bad_header = true;
            return *this;
        }
        return content_length(n);
    }
    if (http::detail::iequals(name, "transfer-encoding")) return *this; // the server's
    if (http::detail::iequals(name, "connection")) {
        bool close = false;
        http::detail::for_each_list_item(value, [&](std::string_view t) {
            if (http::detail::iequals(t, "close")) close = true;
            return true;
        });
        if (close) sl_->close = true;
        return *this;
    }
    std::size_t before = sl_->headers.size();
    serializer<std::string> sr(sl_->headers);
    sr.header(name, value);
    if (sr.error()) {
        sl_->headers.resize(before);
        sl_->bad_header = true;
        return *this;
    }
    if (http::detail::iequals(name, "server")) sl_->has_server = true;
    if (http::detail::iequals(name, "date")) sl_->has_date = true;
    if (http::detail::iequals(name, "content-type")) sl_->has_type = true;
    return *this;
}

SLUICE_DECL bool response::send_event(std::string_view data, std::string_view event,
                                      std::string_view id) {
    if (!sl_ || !sl_->s || sl_->finished) return false;
    std::string ev;
    auto field = [&](std::string_view name, std::string_view v) {
        ev.append(name.data(), name.size());
        ev += ": ";
        ev.append(v.data(), v.size());
        ev += '\n';
    };
    // A field value may not hold a line break: they would start new fields.
    auto one_line = [](std::string_view v) {
        return v.find_first_of("\r\n") == std::string_view::npos;
    };
    if (!one_line(event) || !one_line(id)) return false;
    if (!event.empty()) field("event", event);
    if (!id.empty()) field("id", id);
    for (std::size_t i = 0;;) {
        std::size_t j = data.find_first_of("\r\n", i);
        if (j == std::string_view::npos) {
            field("data", data.substr(i));
            break;
        }
        field("data", data.substr(i, j - i));
        if (data[j] == '\r' && j + 1 < data.size() && data[j + 1] == '\n') ++j;
        i = j + 1;
        if (i == data.size()) break; // a final line break adds no empty data line
    }
    ev += '\n';
    return stream_bytes(ev, true);
}

SLUICE_DECL bool response::send_comment(std::string_view text) {
    if (text.find_first_of("\r\n") != std::string_view::npos) return false;
    std::string line = ": ";
    line.append(text.data(), text.size());
    line += "\n\n";
    return stream_bytes(line, true);
}
} // namespace http
} // namespace sluice

namespace sluice {
namespace http {
namespace detail {

SLUICE_DECL void build_head(server_core& c, response_slot& sl, std::string& h,
                            std::int64_t length) {
    h.clear();
    if (sl.bad_header) {
        sl.status = 500;
        sl.reason.clear();
        sl.headers.clear();
        sl.has_server = sl.has_date = sl.has_type = false;
        length = 0;
    }
    const std::string* common =
        sl.status == 200 && sl.reason.empty() && !sl.has_server && !sl.has_date ? c.ok_head()
                                                                                : nullptr;
    if (common) {
        h.assign(*common);
    } else {
        serializer<std::string> sr(h);
        sr.status_line(sl.status,
                       sl.reason.empty() ? std::string_view() : std::string_view(sl.reason));
        if (!sl.has_server && !c.settings_.server_name.empty())
            sr.header("Server", c.settings_.server_name);
        if (!sl.has_date) sr.header("Date", c.dates_.now());
    }
    h += sl.headers; // checked by response::header
    // The framing and Connection fields are the library's own: composed, not checked.
    char tail[96];
    std::size_t n = 0;
    auto put = [&](std::string_view piece) {
        std::memcpy(tail + n, piece.data(), piece.size());
        n += piece.size();
    };
    const bool bodyless = sl.status < 200 || sl.status == 204 || sl.status == 304;
    if (!bodyless) {
        if (length >= 0) {
            put("Content-Length: ");
            n += format_uint(static_cast<std::uint64_t>(length), tail + n);
            put("\r\n");
        } else if (sl.minor >= 1) {
            put("Transfer-Encoding: chunked\r\n");
        } else {
            sl.close = true; // HTTP/1.0 stream: delimited by the close
        }
    }
    if (sl.close)
        put("Connection: close\r\n");
    else if (sl.minor == 0)
        put("Connection: keep-alive\r\n");
    put("\r\n");
    h.append(tail, n);
}
} // namespace detail
} // namespace http
} // namespace sluice
