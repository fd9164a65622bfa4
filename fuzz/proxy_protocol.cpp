// libFuzzer target for sluice::proxy::parse and the X-Forwarded-For / Forwarded helpers.
//   clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude \
//       fuzz/proxy_protocol.cpp -o fz && ./fz fuzz/corpus/proxy
// Byte 0 picks the v2 size limit; the rest is the stream. It is parsed whole and at
// every prefix (each from an exact-size heap copy so ASan sees any over-read): a prefix
// of a complete header needs more, a longer one gives the same header, and an error
// never turns back into anything else. A parsed header written again parses the same.
// The same bytes also go through the X-Forwarded-For and Forwarded readers, whose
// views must stay inside the input and whose counts must agree.
#include <sluice/http/forwarded.hpp>
#include <sluice/proxy/proxy_protocol.hpp>

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>

namespace proxy = sluice::proxy;
namespace http = sluice::http;

namespace {

void check(bool ok) {
    if (!ok) __builtin_trap();
}

bool inside(std::string_view part, std::string_view whole) {
    if (part.empty()) return true;
    return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

struct outcome {
    proxy::parse_result r;
    proxy::header h;
    std::string tlvs; // copied out: the views die with the buffer
    std::string source_path, destination_path;
};

outcome parse_copy(const std::uint8_t* data, std::size_t n, const proxy::limits& lim) {
    std::unique_ptr<char[]> buf(new char[n ? n : 1]);
    if (n) std::memcpy(buf.get(), data, n);
    const std::string_view in(buf.get(), n);
    outcome o;
    o.r = proxy::parse(in, o.h, lim);
    check(o.r.consumed <= n);
    switch (o.r.status) {
    case proxy::parse_status::complete:
        check(!o.r.ec && o.r.consumed > 0);
        check(o.h.version == 1 || o.h.version == 2);
        check(o.r.consumed <= (o.h.version == 1 ? proxy::v1_max_size : lim.max_v2_size));
        check(inside(o.h.tlv_bytes, in.substr(0, o.r.consumed)));
        check(inside(o.h.source_path, in.substr(0, o.r.consumed)));
        check(inside(o.h.destination_path, in.substr(0, o.r.consumed)));
        check(proxy::valid_tlvs(o.h.tlv_bytes));
        for (const proxy::tlv& t : o.h.tlvs()) check(inside(t.value, o.h.tlv_bytes));
        if (o.h.proxied() && o.h.family != proxy::family::unix_socket)
            check(o.h.source.valid() && o.h.destination.valid());
        o.tlvs.assign(o.h.tlv_bytes.data(), o.h.tlv_bytes.size());
        o.source_path.assign(o.h.source_path.data(), o.h.source_path.size());
        o.destination_path.assign(o.h.destination_path.data(), o.h.destination_path.size());
        o.h.tlv_bytes = o.h.source_path = o.h.destination_path = {};
        break;
    case proxy::parse_status::need_more:
        check(!o.r.ec && o.r.consumed == 0);
        break;
    case proxy::parse_status::error:
        check(o.r.ec && o.r.consumed == 0);
        check(o.r.ec.category() == proxy::proxy_category());
        check(!o.r.ec.message().empty());
        break;
    }
    return o;
}

bool same(const outcome& a, const outcome& b) {
    return a.r.status == b.r.status && a.r.consumed == b.r.consumed && a.r.ec == b.r.ec &&
           a.h.version == b.h.version && a.h.command == b.h.command && a.h.family == b.h.family &&
           a.h.transport == b.h.transport && a.h.source == b.h.source &&
           a.h.destination == b.h.destination && a.tlvs == b.tlvs &&
           a.source_path == b.source_path && a.destination_path == b.destination_path;
}

// A proxied TCP header written again (v1 and v2) reads back as the same addresses.
void rewrite(const outcome& o) {
    if (!o.h.proxied() || o.h.transport != proxy::transport::stream ||
        (o.h.family != proxy::family::ipv4 && o.h.family != proxy::family::ipv6))
        return;
    std::string v1, v2;
    proxy::append_v1(v1, o.h.source, o.h.destination);
    check(proxy::append_v2(v2, proxy::command::proxy, o.h.source, o.h.destination,
                           std::string_view(), true));
    for (const std::string* s : {&v1, &v2}) {
        proxy::header h;
        proxy::parse_result r = proxy::parse(*s, h);
        check(r.status == proxy::parse_status::complete && r.consumed == s->size());
        check(h.source == o.h.source && h.destination == o.h.destination);
    }
}

void forwarded_helpers(const std::uint8_t* data, std::size_t n) {
    std::unique_ptr<char[]> buf(new char[n ? n : 1]);
    if (n) std::memcpy(buf.get(), data, n);
    const std::string_view v(buf.get(), n);

    std::size_t count = 0, seen = 0;
    std::error_code ec = http::xff_count(v, count);
    check(!ec || ec.category() == http::forwarded_category());
    (void)http::for_each_xff(v, [&](const http::forwarded_node& node) {
        ++seen;
        check(inside(node.name, v) && inside(node.port, v) && !node.name.empty());
        if (node.is_ip()) {
            sluice::endpoint ep = node.to_endpoint();
            check(ep.valid() && ep.port() == node.port_number);
            std::string again;
            http::append_xff(again, ep);
            http::forwarded_node back;
            check(!http::xff_client(again, back));
            check(back.to_endpoint() == sluice::endpoint::parse(node.name, 0));
        }
    });
    if (!ec) {
        check(seen == count && count > 0);
        http::forwarded_node first, last;
        check(!http::xff_client(v, first) && !http::xff_from_right(v, count - 1, last));
        check(first.name == last.name);
        check(http::xff_from_right(v, count, last) == http::forwarded_error::too_few_hops);
    }

    seen = 0;
    ec = http::forwarded_count(v, count);
    check(!ec || ec.category() == http::forwarded_category());
    (void)http::for_each_forwarded(v, [&](const http::forwarded_element& el) {
        ++seen;
        check(inside(el.for_node.name, v) && inside(el.by_node.name, v));
        check(inside(el.proto, v) && inside(el.host, v));
        if (el.for_node.is_ip()) {
            std::string again;
            const sluice::endpoint ep = el.for_node.to_endpoint();
            check(ep.valid());
            check(!http::append_forwarded(again, ep, el.proto, el.host, true));
            http::forwarded_element back;
            check(!http::forwarded_first(again, back));
            check(back.for_node.to_endpoint() == ep && back.proto == el.proto &&
                  back.host == el.host);
        }
    });
    if (!ec) {
        check(seen == count && count > 0);
        http::forwarded_element el;
        check(!http::forwarded_from_right(v, count - 1, el));
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    proxy::limits lim;
    const std::uint8_t cfg = data[0];
    if (cfg & 1) lim.max_v2_size = proxy::v2_fixed_size + (cfg >> 1) * 4u;
    ++data, --size;

    const outcome whole = parse_copy(data, size, lim);
    rewrite(whole);
    bool failed = false;
    const std::size_t prefixes = size <= 1024 ? size : 1024;
    for (std::size_t k = 0; k < prefixes; ++k) {
        const outcome part = parse_copy(data, k, lim);
        switch (whole.r.status) {
        case proxy::parse_status::complete:
            if (k < whole.r.consumed)
                check(part.r.status == proxy::parse_status::need_more);
            else
                check(same(part, whole));
            break;
        case proxy::parse_status::need_more:
            check(part.r.status == proxy::parse_status::need_more);
            break;
        case proxy::parse_status::error:
            // need_more until the breaking byte arrives, then that same error for good
            if (failed) check(same(part, whole));
            if (part.r.status == proxy::parse_status::error) {
                check(part.r.ec == whole.r.ec);
                failed = true;
            } else {
                check(part.r.status == proxy::parse_status::need_more);
            }
            break;
        }
    }
    forwarded_helpers(data, size);
    return 0;
}
