// sluice — X-Forwarded-For and Forwarded (RFC 7239): who the client was, as the proxies
// in front of a server report it. Views into the header value; nothing is allocated
// while reading.
//
//     // One trusted proxy (our load balancer) appends the address it saw:
//     http::forwarded_node client;
//     if (!http::xff_from_right(req.get("X-Forwarded-For"), 0, client)) use(client.name);
//
// Trust: any client can send these headers with any content. Only the entries appended
// by proxies you control are facts; count them from the right (the nearest proxy writes
// last). The leftmost entry (xff_client / forwarded_first) is whatever the first hop
// claimed, fine for logs and never for access control. A request may carry the field
// more than once: join the values with ", " first, in order, as RFC 9110 §5.3 allows.
//
// Strict: an empty element, an address that is not one, a port out of range, a
// duplicate parameter or anything else off the grammar is an error, never a guess.
// X-Forwarded-For elements: IPv4, IPv6 (bare or in brackets), either with a port
// ("192.0.2.1:443", "[2001:db8::1]:443"), or "unknown". Forwarded follows RFC 7239 §4
// to the letter (no spaces around ';' and '='), except that a backslash escape inside a
// for/by/proto/host value is refused: no valid value needs one, and refusing it keeps
// the values plain views.
#pragma once

#include <sluice/config.hpp>
#include <sluice/http/message.hpp>
#include <sluice/http/parser.hpp>
#include <sluice/platform/endpoint.hpp>
#include <sluice/util/ip_text.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

namespace sluice {
namespace http {

enum class forwarded_error : std::uint8_t {
    empty_element = 1,
    bad_node,
    bad_port,
    bad_pair,
    bad_quoted_string,
    escaped_value,
    duplicate_parameter,
    bad_proto,
    bad_host,
    too_few_hops,
};

} // namespace http
} // namespace sluice

namespace std {
template <>
struct is_error_code_enum<sluice::http::forwarded_error> : true_type {};
} // namespace std

namespace sluice {
namespace http {

namespace detail {

class forwarded_category_impl final : public std::error_category {
  public:
    const char* name() const noexcept override { return "sluice.forwarded"; }
    std::string message(int ev) const override {
        switch (static_cast<forwarded_error>(ev)) {
        case forwarded_error::empty_element:
            return "empty element in a forwarding list";
        case forwarded_error::bad_node:
            return "node is not an IP address, \"unknown\" or an obfuscated identifier";
        case forwarded_error::bad_port:
            return "node port is not 0-65535 or an obfuscated port";
        case forwarded_error::bad_pair:
            return "Forwarded element is not token=value pairs separated by ';'";
        case forwarded_error::bad_quoted_string:
            return "malformed quoted string in Forwarded";
        case forwarded_error::escaped_value:
            return "backslash escape in a Forwarded for/by/proto/host value";
        case forwarded_error::duplicate_parameter:
            return "Forwarded parameter given twice in one element";
        case forwarded_error::bad_proto:
            return "Forwarded proto is not a URI scheme";
        case forwarded_error::bad_host:
            return "Forwarded host is not a valid Host value";
        case forwarded_error::too_few_hops:
            return "forwarding list has fewer entries than asked for";
        }
        return "unknown sluice.forwarded error";
    }
};

} // namespace detail

SLUICE_DECL const std::error_category& forwarded_category() noexcept;

SLUICE_DECL std::error_code make_error_code(forwarded_error e) noexcept;

// One hop: an X-Forwarded-For entry, or the for= / by= of a Forwarded element.
struct forwarded_node {
    enum class kind : std::uint8_t { none, ipv4, ipv6, unknown, obfuscated };
    forwarded_node::kind type = kind::none; // none: the parameter was absent
    std::string_view name;         // the address (IPv6 without brackets), "unknown", or "_id"
    std::string_view port;         // digits or "_id"; empty when none was given
    std::uint16_t port_number = 0; // when `port` is digits

    bool is_ip() const noexcept { return type == kind::ipv4 || type == kind::ipv6; }
    // The address as an endpoint (port_number, 0 when none); invalid unless is_ip().
    endpoint to_endpoint() const noexcept {
        if (!is_ip()) return endpoint();
        std::error_code ec;
        return endpoint::parse(name, port_number, ec);
    }
};

// One Forwarded element. proto and host are empty when absent.
struct forwarded_element {
    forwarded_node for_node;
    forwarded_node by_node;
    std::string_view proto;
    std::string_view host;
};

namespace detail {

SLUICE_DECL bool is_obfuscated_id(std::string_view s) noexcept;

// `s` is a whole node. Forwarded brackets IPv6 and allows obfuscated names and ports;
// X-Forwarded-For also takes a bare IPv6 address.
SLUICE_DECL std::error_code parse_node(std::string_view s, forwarded_node& out, bool xff) noexcept;

SLUICE_DECL bool is_scheme(std::string_view s) noexcept;

// uri-host [ ":" port ] (RFC 3986): a reg-name, an IPv4 address or a bracketed IPv6 one.
SLUICE_DECL bool is_host(std::string_view s) noexcept;

// Reads Forwarded elements one at a time from the start of a field value.
class forwarded_cursor {
  public:
    explicit forwarded_cursor(std::string_view v) noexcept : v_(v) {}

    // The next element into `out`: true; the end of the list: false with ec clear;
    // a malformed list: false with ec set.
    bool next(forwarded_element& out, std::error_code& ec) noexcept {
        ec = err_;
        out = forwarded_element();
        if (ec) return false;
        skip_ows();
        if (i_ == v_.size()) {
            // An empty value, or a comma with nothing after it.
            if (!started_ || after_comma_) return fail(ec, forwarded_error::empty_element);
            return false;
        }
        started_ = true;
        bool seen_for = false, seen_by = false, seen_proto = false, seen_host = false;
        bool any = false;
        for (;;) {
            if (i_ < v_.size() && v_[i_] == ';') { // empty pair: allowed by the grammar
                ++i_;
                continue;
            }
            std::size_t start = i_;
            while (i_ < v_.size() && has(static_cast<unsigned char>(v_[i_]), c_token)) ++i_;
            std::string_view name = v_.substr(start, i_ - start);
            if (name.empty()) break; // end of the element
            if (i_ == v_.size() || v_[i_] != '=') return fail(ec, forwarded_error::bad_pair);
            ++i_;
            std::string_view value;
            bool escaped = false;
            if (i_ < v_.size() && v_[i_] == '"') {
                if (!quoted(value, escaped)) return fail(ec, forwarded_error::bad_quoted_string);
            } else {
                start = i_;
                while (i_ < v_.size() && has(static_cast<unsigned char>(v_[i_]), c_token)) ++i_;
                value = v_.substr(start, i_ - start);
                if (value.empty()) return fail(ec, forwarded_error::bad_pair);
            }
            // The syntax first: what follows a value ends the pair or the element.
            if (i_ < v_.size() && v_[i_] != ';' && v_[i_] != ',' && !is_ows(v_[i_]))
                return fail(ec, forwarded_error::bad_pair);
            any = true;
            const bool for_p = iequals(name, "for"), by_p = iequals(name, "by");
            const bool proto_p = iequals(name, "proto"), host_p = iequals(name, "host");
            if (for_p || by_p || proto_p || host_p) {
                bool& seen = for_p ? seen_for : by_p ? seen_by : proto_p ? seen_proto : seen_host;
                if (seen) return fail(ec, forwarded_error::duplicate_parameter);
                seen = true;
                if (escaped) return fail(ec, forwarded_error::escaped_value);
            }
            if (for_p || by_p) {
                if (std::error_code e =
                        parse_node(value, for_p ? out.for_node : out.by_node, false))
                    return fail(ec, static_cast<forwarded_error>(e.value()));
            } else if (proto_p) {
                if (!is_scheme(value)) return fail(ec, forwarded_error::bad_proto);
                out.proto = value;
            } else if (host_p) {
                if (!is_host(value)) return fail(ec, forwarded_error::bad_host);
                out.host = value;
            }
            if (i_ < v_.size() && v_[i_] == ';') {
                ++i_;
                continue;
            }
            break;
        }
        if (!any) return fail(ec, forwarded_error::empty_element);
        skip_ows();
        after_comma_ = false;
        if (i_ < v_.size()) {
            if (v_[i_] != ',') return fail(ec, forwarded_error::bad_pair);
            ++i_;
            after_comma_ = true;
        }
        return true;
    }

  private:
    bool fail(std::error_code& ec, forwarded_error e) noexcept {
        err_ = e;
        ec = err_;
        return false;
    }
    void skip_ows() noexcept {
        while (i_ < v_.size() && is_ows(v_[i_])) ++i_;
    }
    // At a '"': the inside of a quoted-string (RFC 9110 §5.6.4).
    bool quoted(std::string_view& value, bool& escaped) noexcept {
        std::size_t start = ++i_;
        for (; i_ < v_.size(); ++i_) {
            const auto c = static_cast<unsigned char>(v_[i_]);
            if (c == '"') {
                value = v_.substr(start, i_ - start);
                ++i_;
                return true;
            }
            if (c == '\\') {
                escaped = true;
                if (++i_ == v_.size()) return false;
                const auto e = static_cast<unsigned char>(v_[i_]);
                if ((e < 0x20 && e != '\t') || e == 0x7f) return false;
            } else if ((c < 0x20 && c != '\t') || c == 0x7f) {
                return false;
            }
        }
        return false;
    }

    std::string_view v_;
    std::size_t i_ = 0;
    std::error_code err_; // sticky: a malformed list stays malformed
    bool started_ = false;
    bool after_comma_ = false;
};

// Calls f(element) for each X-Forwarded-For entry, left to right.
template <class F>
inline std::error_code for_each_xff_entry(std::string_view v, F&& f) {
    std::size_t i = 0;
    for (;;) {
        std::size_t j = v.find(',', i);
        std::size_t a = i, b = j == std::string_view::npos ? v.size() : j;
        while (a < b && is_ows(v[a])) ++a;
        while (b > a && is_ows(v[b - 1])) --b;
        if (a == b) return forwarded_error::empty_element;
        forwarded_node node;
        if (std::error_code ec = parse_node(v.substr(a, b - a), node, true)) return ec;
        f(node);
        if (j == std::string_view::npos) return {};
        i = j + 1;
    }
}

} // namespace detail

// ---- X-Forwarded-For ----

// Calls f(const forwarded_node&) for each entry, left (the first hop) to right (the
// nearest proxy); stops at the first malformed one and returns why. Entries before the
// error were passed to f: validate first (xff_count) when that matters.
template <class F>
inline std::error_code for_each_xff(std::string_view value, F&& f) {
    return detail::for_each_xff_entry(value, f);
}

SLUICE_DECL std::error_code xff_count(std::string_view value, std::size_t& n) noexcept;

// The entry `n` places from the right: 0 is the one the nearest proxy appended. With k
// trusted proxies in front of the server, n = k - 1 is the client the outermost one saw.
// The whole list must be well-formed.
SLUICE_DECL std::error_code xff_from_right(std::string_view value, std::size_t n,
                                           forwarded_node& out) noexcept;

// The leftmost entry: the original client as the first proxy claims it (untrusted).
SLUICE_DECL std::error_code xff_client(std::string_view value, forwarded_node& out) noexcept;

// Appends `hop`'s address (no port, IPv6 without brackets, as proxies write it) to an
// X-Forwarded-For value; an endpoint that is not IPv4 or IPv6 is written "unknown".
SLUICE_DECL void append_xff(std::string& value, const endpoint& hop);

// ---- Forwarded (RFC 7239) ----

// Calls f(const forwarded_element&) for each element, left to right; as for_each_xff.
template <class F>
inline std::error_code for_each_forwarded(std::string_view value, F&& f) {
    detail::forwarded_cursor cur(value);
    forwarded_element el;
    std::error_code ec;
    while (cur.next(el, ec)) f(static_cast<const forwarded_element&>(el));
    return ec;
}

SLUICE_DECL std::error_code forwarded_count(std::string_view value, std::size_t& n) noexcept;

// The element `n` places from the right (0: the nearest proxy's); see xff_from_right.
SLUICE_DECL std::error_code forwarded_from_right(std::string_view value, std::size_t n,
                                                 forwarded_element& out) noexcept;

// The leftmost element (untrusted, see the top of this file).
SLUICE_DECL std::error_code forwarded_first(std::string_view value,
                                            forwarded_element& out) noexcept;

// Appends one element for `client` to a Forwarded value: for= (quoted and bracketed as
// the grammar needs; "unknown" for a non-IP endpoint; with the port if asked), then
// proto= and host= when given. An invalid proto or host appends nothing.
SLUICE_DECL std::error_code append_forwarded(std::string& value, const endpoint& client,
                                             std::string_view proto = {},
                                             std::string_view host = {}, bool with_port = false);

} // namespace http
} // namespace sluice

#if SLUICE_COMPILE_BODIES
#include <sluice/http/impl/forwarded.ipp>
#endif
