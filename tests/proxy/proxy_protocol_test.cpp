// The PROXY protocol parser against the vectors of haproxy's proxy-protocol.txt: every
// valid header also fed one byte short at every length (need_more, never an error), each
// from an exact-size heap copy so the sanitizer builds catch any read past the input.
#include "../loop/common.hpp"

#include <sluice/proxy/proxy_protocol.hpp>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace proxy = sluice::proxy;
using sluice::endpoint;

namespace {

// Parses `in` from a heap buffer of exactly its size.
proxy::parse_result parse_exact(std::string_view in, proxy::header& h,
                                const proxy::limits& lim = {}) {
    std::unique_ptr<char[]> buf(new char[in.size() ? in.size() : 1]);
    if (!in.empty()) std::memcpy(buf.get(), in.data(), in.size());
    return proxy::parse(std::string_view(buf.get(), in.size()), h, lim);
}

// A valid header: need_more for each proper prefix, complete at its length with the
// payload after it left alone. Returns the parsed header (its views point into `keep`).
proxy::header parse_valid(const std::string& bytes, std::string& keep,
                          const proxy::limits& lim = {}) {
    for (std::size_t k = 0; k < bytes.size(); ++k) {
        proxy::header h;
        proxy::parse_result r = parse_exact(std::string_view(bytes).substr(0, k), h, lim);
        INFO("prefix of " << k << " bytes");
        REQUIRE(r.status == proxy::parse_status::need_more);
        CHECK(r.consumed == 0);
        CHECK_FALSE(r.ec);
    }
    keep = bytes + "GET / HTTP/1.1\r\n\r\n";
    proxy::header h;
    proxy::parse_result r = proxy::parse(keep, h, lim);
    REQUIRE(r.status == proxy::parse_status::complete);
    CHECK_FALSE(r.ec);
    CHECK(r.consumed == bytes.size());
    return h;
}

std::error_code parse_error(std::string_view bytes, const proxy::limits& lim = {}) {
    proxy::header h;
    proxy::parse_result r = parse_exact(bytes, h, lim);
    CHECK(r.status == proxy::parse_status::error);
    CHECK(r.consumed == 0);
    return r.ec;
}

std::string v2(unsigned char ver_cmd, unsigned char fam, const std::string& body) {
    std::string s(proxy::v2_signature);
    s += static_cast<char>(ver_cmd);
    s += static_cast<char>(fam);
    s += static_cast<char>(body.size() >> 8);
    s += static_cast<char>(body.size() & 0xff);
    return s + body;
}

std::string bytes(std::initializer_list<int> b) {
    std::string s;
    for (int c : b) s += static_cast<char>(c);
    return s;
}

std::string tlv(int type, const std::string& value) {
    std::string s;
    proxy::append_tlv(s, static_cast<std::uint8_t>(type), value);
    return s;
}

// 192.168.0.1:56324 -> 192.168.0.11:443
const std::string tcp4_block = bytes({192, 168, 0, 1, 192, 168, 0, 11, 0xdc, 0x04, 0x01, 0xbb});

} // namespace

TEST_CASE("proxy v1: TCP4") {
    std::string keep;
    proxy::header h = parse_valid("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n", keep);
    CHECK(h.version == 1);
    CHECK(h.command == proxy::command::proxy);
    CHECK(h.family == proxy::family::ipv4);
    CHECK(h.transport == proxy::transport::stream);
    CHECK(h.proxied());
    CHECK(h.source == endpoint::parse("192.168.0.1", 56324));
    CHECK(h.destination == endpoint::parse("192.168.0.11", 443));
    CHECK(h.tlvs().empty());

    h = parse_valid("PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n", keep);
    CHECK(h.source.to_string() == "0.0.0.0:0");
    CHECK(h.destination.to_string() == "255.255.255.255:65535");
}

TEST_CASE("proxy v1: TCP6, including the longest line") {
    std::string keep;
    proxy::header h = parse_valid("PROXY TCP6 2001:db8::1 ::1 51234 8080\r\n", keep);
    CHECK(h.family == proxy::family::ipv6);
    CHECK(h.source == endpoint::parse("2001:db8::1", 51234));
    CHECK(h.destination == endpoint::parse("::1", 8080));

    const std::string full = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
    h = parse_valid("PROXY TCP6 " + full + " " + full + " 65535 65535\r\n", keep);
    CHECK(h.source.address() == full);

    // The forms inet_ntop() writes: a dotted-quad tail, "::" anywhere, uppercase digits.
    h = parse_valid("PROXY TCP6 ::ffff:192.0.2.1 1:2:3:4:5:6:7:: 1 2\r\n", keep);
    CHECK(h.source == endpoint::parse("::ffff:192.0.2.1", 1));
    CHECK(h.destination == endpoint::parse("1:2:3:4:5:6:7:0", 2));
    h = parse_valid("PROXY TCP6 2001:DB8:0:0:0:0:0:1 :: 1 2\r\n", keep);
    CHECK(h.source == endpoint::parse("2001:db8::1", 1));
    CHECK(h.destination == endpoint::parse("::", 2));
}

TEST_CASE("proxy v1: UNKNOWN carries no addresses, and the rest of its line is ignored") {
    std::string keep;
    proxy::header h = parse_valid("PROXY UNKNOWN\r\n", keep);
    CHECK(h.version == 1);
    CHECK(h.family == proxy::family::unspec);
    CHECK_FALSE(h.proxied());
    CHECK_FALSE(h.source.valid());

    // The longest line the specification allows: exactly 107 bytes.
    const std::string full = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
    const std::string longest = "PROXY UNKNOWN " + full + " " + full + " 65535 65535\r\n";
    REQUIRE(longest.size() == proxy::v1_max_size);
    h = parse_valid(longest, keep);
    CHECK_FALSE(h.proxied());
    parse_valid("PROXY UNKNOWN whatever follows\r\n", keep);
}

TEST_CASE("proxy v1: too long, or not a CRLF line") {
    // 107 bytes without LF is already an error; an LF at byte 107 is one too late.
    std::string line = "PROXY UNKNOWN " + std::string(200, 'x');
    CHECK(parse_error(line.substr(0, 107)) == proxy::error::v1_too_long);
    proxy::header h;
    CHECK(parse_exact(line.substr(0, 106), h).status == proxy::parse_status::need_more);
    CHECK(parse_error(line.substr(0, 106) + "\r\n") == proxy::error::v1_too_long);
    CHECK(parse_exact(line.substr(0, 105) + "\r\n", h).status == proxy::parse_status::complete);

    CHECK(parse_error("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n") == proxy::error::v1_bad_line_end);
    CHECK(parse_error("PROXY UNKNOWN\n") == proxy::error::v1_bad_line_end);
    // A lone CR is not the end of the line; the bytes after it are not a port.
    CHECK(parse_error("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX\r\n") == proxy::error::v1_bad_port);
    CHECK(parse_exact("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r", h).status ==
          proxy::parse_status::need_more);
}

TEST_CASE("proxy v1: protocol and field syntax") {
    CHECK(parse_error("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n") == proxy::error::v1_bad_protocol);
    CHECK(parse_error("PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n") == proxy::error::v1_bad_protocol);
    CHECK(parse_error("PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n") == proxy::error::v1_bad_protocol);
    CHECK(parse_error("PROXY UNKNOWNX\r\n") == proxy::error::v1_bad_protocol);
    CHECK(parse_error("PROXY \r\n") == proxy::error::v1_bad_protocol);
    CHECK(parse_error("PROXY TCP4\r\n") == proxy::error::v1_bad_syntax);
    CHECK(parse_error("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n") == proxy::error::v1_bad_syntax);
    CHECK(parse_error("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n") == proxy::error::v1_bad_syntax);
    CHECK(parse_error("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n") == proxy::error::v1_bad_syntax);
    CHECK(parse_error("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n") == proxy::error::v1_bad_syntax);
    CHECK(parse_error("PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n") == proxy::error::v1_bad_syntax);
}

TEST_CASE("proxy v1: addresses are strict and of the announced family") {
    for (const char* a :
         {"1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.04", "01.2.3.4", "1..2.3", "1.2.3.4 ",
          "1.2.3.-4", "a.b.c.d", "1.2.3.4/8", "::1", "0x1.2.3.4", "1.2.3.1000"}) {
        INFO(a);
        std::string line = std::string("PROXY TCP4 ") + a + " 5.6.7.8 1 2\r\n";
        CHECK(parse_error(line) != std::error_code());
        CHECK(parse_error("PROXY TCP4 5.6.7.8 " + std::string(a) + " 1 2\r\n") !=
              std::error_code());
    }
    CHECK(parse_error("PROXY TCP4 256.1.1.1 5.6.7.8 1 2\r\n") == proxy::error::v1_bad_address);
    CHECK(parse_error("PROXY TCP4 ::1 5.6.7.8 1 2\r\n") == proxy::error::v1_bad_address);
    for (const char* a : {"1.2.3.4", ":::", "1:2:3:4:5:6:7:8:9", "1::2::3", "12345::1", "::g",
                          "1:2:3:4:5:6:7", ":1::2", "1::2:", "::1.2.3", "::1.2.3.4:5",
                          "1:2:3:4:5:6:7:1.2.3.4", "[::1]", "fe80::1%eth0"}) {
        INFO(a);
        CHECK(parse_error(std::string("PROXY TCP6 ") + a + " ::1 1 2\r\n") ==
              proxy::error::v1_bad_address);
    }
}

TEST_CASE("proxy v1: ports are 0-65535 in decimal without leading zeros") {
    for (const char* p : {"65536", "080", "00", "-1", "+80", "1e3", "99999", "123456", "0x50"}) {
        INFO(p);
        CHECK(parse_error(std::string("PROXY TCP4 1.2.3.4 5.6.7.8 ") + p + " 80\r\n") ==
              proxy::error::v1_bad_port);
        CHECK(parse_error(std::string("PROXY TCP4 1.2.3.4 5.6.7.8 80 ") + p + "\r\n") ==
              proxy::error::v1_bad_port);
    }
}

TEST_CASE("proxy: a connection that does not start with a header is refused at once") {
    CHECK(parse_error("GET / HTTP/1.1\r\n") == proxy::error::not_proxy);
    CHECK(parse_error("proxy TCP4") == proxy::error::not_proxy);
    CHECK(parse_error("PROXY\r\n") == proxy::error::not_proxy);
    CHECK(parse_error("PRX") == proxy::error::not_proxy);
    CHECK(parse_error("\r\n\r\n\x01") == proxy::error::not_proxy);
    CHECK(parse_error(std::string("\r\n\r\n\0\r\nQUIT\r", 12)) == proxy::error::not_proxy);
    proxy::header h;
    CHECK(parse_exact("", h).status == proxy::parse_status::need_more);
    CHECK(parse_exact("PROX", h).status == proxy::parse_status::need_more);
    CHECK(parse_exact("\r\n\r", h).status == proxy::parse_status::need_more);
}

TEST_CASE("proxy v2: TCP over IPv4") {
    std::string keep;
    proxy::header h = parse_valid(v2(0x21, 0x11, tcp4_block), keep);
    CHECK(h.version == 2);
    CHECK(h.command == proxy::command::proxy);
    CHECK(h.family == proxy::family::ipv4);
    CHECK(h.transport == proxy::transport::stream);
    CHECK(h.proxied());
    CHECK(h.source == endpoint::parse("192.168.0.1", 56324));
    CHECK(h.destination == endpoint::parse("192.168.0.11", 443));
    CHECK(h.tlvs().empty());

    h = parse_valid(v2(0x21, 0x12, tcp4_block), keep); // UDP
    CHECK(h.transport == proxy::transport::dgram);
}

TEST_CASE("proxy v2: TCP over IPv6") {
    std::string block;
    for (int i = 0; i < 16; ++i) block += static_cast<char>(i == 0 ? 0x20 : i == 1 ? 0x01 : i);
    for (int i = 0; i < 15; ++i) block += '\0';
    block += '\x01';
    block += bytes({0x12, 0x34, 0x00, 0x50});
    std::string keep;
    proxy::header h = parse_valid(v2(0x21, 0x21, block), keep);
    CHECK(h.family == proxy::family::ipv6);
    CHECK(h.source == endpoint::parse("2001:203:405:607:809:a0b:c0d:e0f", 0x1234));
    CHECK(h.destination == endpoint::parse("::1", 80));
}

TEST_CASE("proxy v2: Unix sockets") {
    std::string src = "/run/haproxy.sock", dst = std::string("\0abstract", 9);
    std::string block =
        src + std::string(108 - src.size(), '\0') + dst + std::string(108 - dst.size(), '\0');
    std::string keep;
    proxy::header h = parse_valid(v2(0x21, 0x31, block), keep);
    CHECK(h.family == proxy::family::unix_socket);
    CHECK(h.proxied());
    CHECK(h.source_path == src);
    CHECK(h.destination_path == dst);
#if SLUICE_HAS_UNIX_SOCKETS
    CHECK(h.source.family() == AF_UNIX);
    CHECK(h.source.address() == src);
    CHECK(h.destination.address() == dst);
#endif
    // A path that fills the whole 108 bytes has no NUL: still bounded by the block.
    std::string full(108, 'p');
    h = parse_valid(v2(0x21, 0x32, full + std::string(108, '\0')), keep);
    CHECK(h.source_path == full);
    CHECK(h.destination_path.empty());
    CHECK(h.transport == proxy::transport::dgram);
}

TEST_CASE("proxy v2: LOCAL and UNSPEC skip the address block") {
    std::string keep;
    proxy::header h = parse_valid(v2(0x20, 0x00, ""), keep);
    CHECK(h.command == proxy::command::local);
    CHECK_FALSE(h.proxied());
    CHECK_FALSE(h.source.valid());
    // LOCAL ignores the family byte and whatever the block holds.
    h = parse_valid(v2(0x20, 0xff, "health check"), keep);
    CHECK(h.command == proxy::command::local);
    CHECK(h.family == proxy::family::unspec);
    CHECK(h.tlvs().empty());
    h = parse_valid(v2(0x20, 0x11, tcp4_block), keep);
    CHECK_FALSE(h.proxied());
    // PROXY with UNSPEC: no usable addresses either.
    h = parse_valid(v2(0x21, 0x00, "xyz"), keep);
    CHECK(h.command == proxy::command::proxy);
    CHECK_FALSE(h.proxied());
}

TEST_CASE("proxy v2: TLVs are views into the input") {
    std::string ssl =
        bytes({0x07, 0, 0, 0, 0}) + tlv(0x21, "TLSv1.3") + tlv(0x22, "client.example");
    std::string list = tlv(0x01, "h2") + tlv(0x02, "example.com") + tlv(0x04, "") +
                       tlv(0x05, std::string(128, 'u')) + tlv(0x20, ssl) + tlv(0xe0, "custom");
    std::string keep;
    proxy::header h = parse_valid(v2(0x21, 0x11, tcp4_block + list), keep);
    std::vector<std::pair<int, std::string>> seen;
    for (const proxy::tlv& t : h.tlvs()) {
        CHECK(t.value.data() >= keep.data());
        CHECK(t.value.data() + t.value.size() <= keep.data() + keep.size());
        seen.emplace_back(t.type, std::string(t.value));
    }
    REQUIRE(seen.size() == 6);
    CHECK(seen[0] == std::make_pair(0x01, std::string("h2")));
    CHECK(seen[2] == std::make_pair(0x04, std::string()));
    CHECK(seen[5] == std::make_pair(0xe0, std::string("custom")));
    CHECK(h.tlvs().find(proxy::tlv_type::authority) == std::string_view("example.com"));
    CHECK(h.tlvs().find(proxy::tlv_type::netns) == std::nullopt);
    CHECK(h.tlvs().find(proxy::tlv_type::noop) == std::string_view());

    proxy::ssl_info info;
    REQUIRE(proxy::parse_ssl(*h.tlvs().find(proxy::tlv_type::ssl), info));
    CHECK(info.client == 0x07);
    CHECK(info.verify == 0);
    CHECK(info.sub.find(proxy::tlv_type::ssl_version) == std::string_view("TLSv1.3"));
    CHECK(info.sub.find(proxy::tlv_type::ssl_cn) == std::string_view("client.example"));
}

TEST_CASE("proxy v2: malformed TLV lists") {
    CHECK(parse_error(v2(0x21, 0x11, tcp4_block + bytes({0x01, 0x00}))) ==
          proxy::error::v2_bad_tlv);
    CHECK(parse_error(v2(0x21, 0x11, tcp4_block + bytes({0x01, 0x00, 0x03, 'h', '2'}))) ==
          proxy::error::v2_bad_tlv);
    CHECK(parse_error(v2(0x21, 0x11, tcp4_block + tlv(0x01, "h2") + "x")) ==
          proxy::error::v2_bad_tlv);
    // ssl: shorter than its fixed 5 bytes, or with a broken sub-TLV
    CHECK(parse_error(v2(0x21, 0x11, tcp4_block + tlv(0x20, "abcd"))) == proxy::error::v2_bad_tlv);
    CHECK(parse_error(v2(0x21, 0x11, tcp4_block + tlv(0x20, bytes({1, 0, 0, 0, 0, 0x21, 0, 9})))) ==
          proxy::error::v2_bad_tlv);
    // crc32c: exactly 4 bytes, at most once
    CHECK(parse_error(v2(0x21, 0x11, tcp4_block + tlv(0x03, "abc"))) == proxy::error::v2_bad_tlv);
}

TEST_CASE("proxy v2: CRC32C") {
    CHECK(proxy::detail::crc32c("123456789") == 0xE3069283u); // the CRC-32C check value
    CHECK(proxy::detail::crc32c("") == 0u);

    std::string good;
    REQUIRE(proxy::append_v2(good, proxy::command::proxy, endpoint::parse("10.0.0.1", 1000),
                             endpoint::parse("10.0.0.2", 80), tlv(0x01, "h2"), true));
    std::string keep;
    proxy::header h = parse_valid(good, keep);
    REQUIRE(h.tlvs().find(proxy::tlv_type::crc32c));
    // The checksum covers every byte: flip any one outside the signature and the
    // header fails (as a checksum or whatever that byte breaks first), except the
    // type of the checksum TLV itself, which makes it another TLV.
    const std::size_t crc_type = good.size() - 7;
    for (std::size_t i = proxy::v2_signature.size(); i < good.size(); ++i) {
        if (i == crc_type) continue;
        std::string bad = good;
        bad[i] = static_cast<char>(bad[i] ^ 0x80);
        proxy::header hb;
        proxy::parse_result r = proxy::parse(bad, hb);
        INFO("byte " << i);
        CHECK(r.status != proxy::parse_status::complete);
    }
    std::string flipped = good;
    flipped[16] = static_cast<char>(flipped[16] ^ 0x01); // the source address
    CHECK(parse_error(flipped) == proxy::error::v2_bad_checksum);
    std::string twice = good.substr(0, 16 + 12) + tlv(0x03, "\0\0\0\0") + tlv(0x03, "\0\0\0\0");
    twice[14] = 0;
    twice[15] = static_cast<char>(twice.size() - 16);
    CHECK(parse_error(twice) == proxy::error::v2_bad_tlv);
}

TEST_CASE("proxy v2: signature, version, command, family, length") {
    std::string ok = v2(0x21, 0x11, tcp4_block);
    for (std::size_t i = 0; i < 12; ++i) {
        std::string bad = ok;
        bad[i] = static_cast<char>(bad[i] ^ 0x40);
        INFO("signature byte " << i);
        CHECK(parse_error(bad) == proxy::error::not_proxy);
    }
    // Rejected as soon as the offending byte is in, without waiting for the rest.
    CHECK(parse_error(v2(0x11, 0x11, tcp4_block).substr(0, 13)) == proxy::error::v2_bad_version);
    CHECK(parse_error(v2(0x31, 0x11, tcp4_block)) == proxy::error::v2_bad_version);
    CHECK(parse_error(v2(0x22, 0x11, tcp4_block).substr(0, 13)) == proxy::error::v2_bad_command);
    CHECK(parse_error(v2(0x2f, 0x11, tcp4_block)) == proxy::error::v2_bad_command);
    for (int fam : {0x01, 0x10, 0x13, 0x23, 0x33, 0x41, 0xff}) {
        INFO("family " << fam);
        CHECK(parse_error(v2(0x21, static_cast<unsigned char>(fam), tcp4_block).substr(0, 14)) ==
              proxy::error::v2_bad_family);
    }
    // The length must hold the family's address block.
    CHECK(parse_error(v2(0x21, 0x11, tcp4_block.substr(0, 11)).substr(0, 16)) ==
          proxy::error::v2_short_address);
    CHECK(parse_error(v2(0x21, 0x21, std::string(35, '\0'))) == proxy::error::v2_short_address);
    CHECK(parse_error(v2(0x21, 0x31, std::string(215, '\0'))) == proxy::error::v2_short_address);
}

TEST_CASE("proxy v2: the length limit") {
    std::string big = v2(0x21, 0x11, tcp4_block + tlv(0x05, std::string(4096 - 12 - 3, 'u')));
    REQUIRE(big.size() == 16 + 4096);
    std::string keep;
    parse_valid(big, keep); // exactly the default limit
    std::string over = v2(0x21, 0x11, tcp4_block + tlv(0x05, std::string(4096 - 12 - 2, 'u')));
    CHECK(parse_error(over.substr(0, 16)) == proxy::error::v2_too_long); // from the length field
    CHECK(parse_error(over) == proxy::error::v2_too_long);
    proxy::limits lim;
    lim.max_v2_size = 16 + 65535;
    std::string largest = v2(0x21, 0x11, tcp4_block + tlv(0xe1, std::string(65535 - 12 - 3, 'x')));
    proxy::header h;
    CHECK(parse_exact(largest, h, lim).status == proxy::parse_status::complete);
    lim.max_v2_size = 16 + 12;
    CHECK(parse_exact(v2(0x21, 0x11, tcp4_block), h, lim).status == proxy::parse_status::complete);
    CHECK(parse_error(v2(0x21, 0x11, tcp4_block + tlv(4, "")), lim) == proxy::error::v2_too_long);
}

TEST_CASE("proxy: writing headers round-trips through the parser") {
    const endpoint a4 = endpoint::parse("203.0.113.7", 51000),
                   b4 = endpoint::parse("192.0.2.1", 80);
    const endpoint a6 = endpoint::parse("2001:db8::7", 4242), b6 = endpoint::parse("::1", 443);
    std::string keep;

    std::string s;
    proxy::append_v1(s, a4, b4);
    CHECK(s == "PROXY TCP4 203.0.113.7 192.0.2.1 51000 80\r\n");
    proxy::header h = parse_valid(s, keep);
    CHECK(h.source == a4);
    CHECK(h.destination == b4);
    s.clear();
    proxy::append_v1(s, a6, b6);
    CHECK(s == "PROXY TCP6 2001:db8::7 ::1 4242 443\r\n");
    CHECK(parse_valid(s, keep).source == a6);
    s.clear();
    proxy::append_v1(s, a4, b6); // mixed families: UNKNOWN
    CHECK(s == "PROXY UNKNOWN\r\n");

    for (bool crc : {false, true}) {
        s.clear();
        REQUIRE(proxy::append_v2(s, proxy::command::proxy, a6, b6, tlv(2, "example.com"), crc));
        h = parse_valid(s, keep);
        CHECK(h.source == a6);
        CHECK(h.destination == b6);
        CHECK(h.tlvs().find(proxy::tlv_type::authority) == std::string_view("example.com"));
        CHECK(static_cast<bool>(h.tlvs().find(proxy::tlv_type::crc32c)) == crc);
    }
    s.clear();
    REQUIRE(proxy::append_v2(s, proxy::command::local, a4, b4));
    CHECK(s == v2(0x20, 0x00, ""));
    s.clear();
    CHECK_FALSE(proxy::append_v2(s, proxy::command::proxy, a4, b4, std::string(65535 - 11, 'x')));
    CHECK(s.empty());
#if SLUICE_HAS_UNIX_SOCKETS
    s.clear();
    REQUIRE(proxy::append_v2(s, proxy::command::proxy, endpoint::unix_path("/tmp/a"),
                             endpoint::unix_path("/tmp/b")));
    h = parse_valid(s, keep);
    CHECK(h.source_path == "/tmp/a");
    CHECK(h.destination_path == "/tmp/b");
#endif
}

TEST_CASE("proxy: error messages") {
    for (int e = 1; e <= static_cast<int>(proxy::error::v2_bad_checksum); ++e) {
        std::error_code ec = static_cast<proxy::error>(e);
        CHECK(std::string(ec.category().name()) == "sluice.proxy");
        CHECK(ec.message().find("unknown") == std::string::npos);
    }
}

// ---- wire: every multi-byte PROXY v2 field in network byte order ----
// The round trip above passes even if writer and parser share a byte-order bug; these
// compare with hand-written bytes (haproxy's proxy-protocol.txt §2.2), and use values
// whose two bytes differ so that a swap shows.

TEST_CASE("wire: proxy v2 written for IPv4 and IPv6, byte by byte") {
    const std::string sig = "\r\n\r\n" + std::string(1, '\0') + "\r\nQUIT\n";
    REQUIRE(sig == proxy::v2_signature);
    std::string s;
    REQUIRE(proxy::append_v2(s, proxy::command::proxy, endpoint::parse("203.0.113.7", 51000),
                             endpoint::parse("192.0.2.1", 0x1F90)));
    CHECK(s == sig + bytes({0x21, 0x11, 0x00, 0x0C,       // PROXY, TCP/IPv4, length 12
                            203, 0, 113, 7, 192, 0, 2, 1, // source, destination
                            0xC7, 0x38, 0x1F, 0x90}));    // ports 51000, 8080

    s.clear();
    REQUIRE(proxy::append_v2(s, proxy::command::proxy,
                             endpoint::parse("2001:db8:102:304:506:708:90a:b0c", 0x1234),
                             endpoint::parse("fe80::abcd", 443)));
    CHECK(s ==
          sig + bytes({0x21, 0x21, 0x00, 0x24, // TCP/IPv6, length 36
                       0x20, 0x01, 0x0d, 0xb8, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
                       0x09, 0x0a, 0x0b, 0x0c, 0xfe, 0x80, 0,    0,    0,    0,    0,    0,
                       0,    0,    0,    0,    0,    0,    0xab, 0xcd, 0x12, 0x34, 0x01, 0xbb}));
}

TEST_CASE("wire: proxy v2 header and TLV lengths above 255, and the CRC32C value") {
    // A 0x0102-byte TLV value: TLV length 01 02; header length 12 + 3 + 258 = 0x0111.
    const std::string value(0x0102, 'v');
    std::string t;
    proxy::append_tlv(t, 0xe1, value);
    CHECK(t.substr(0, 3) == bytes({0xe1, 0x01, 0x02}));
    std::string s;
    REQUIRE(proxy::append_v2(s, proxy::command::proxy, endpoint::parse("10.0.0.1", 0x0102),
                             endpoint::parse("10.0.0.2", 0x0201), t));
    CHECK(s.substr(12, 4) == bytes({0x21, 0x11, 0x01, 0x11}));
    CHECK(s.substr(24, 4) == bytes({0x01, 0x02, 0x02, 0x01}));
    std::string keep;
    proxy::header h = parse_valid(s, keep);
    CHECK(h.source.port() == 0x0102);
    CHECK(h.destination.port() == 0x0201);
    CHECK(h.tlvs().find(0xe1) == std::string_view(value));

    // Parsed from hand-written bytes: the length's high byte counts.
    const std::string by_hand =
        v2(0x21, 0x11, tcp4_block + bytes({0xe2, 0x01, 0x00}) + std::string(0x100, 'w'));
    REQUIRE(by_hand.substr(14, 2) == bytes({0x01, 0x0f}));
    h = parse_valid(by_hand, keep);
    CHECK(h.tlvs().find(0xe2) == std::string_view(std::string(0x100, 'w')));

    // The checksum TLV holds the CRC32C of the whole header (with that field zero) as a
    // big-endian 32-bit value.
    s.clear();
    REQUIRE(proxy::append_v2(s, proxy::command::proxy, endpoint::parse("10.0.0.1", 1000),
                             endpoint::parse("10.0.0.2", 80), {}, true));
    REQUIRE(s.size() == 16 + 12 + 7);
    CHECK(s.substr(28, 3) == bytes({0x03, 0x00, 0x04}));
    std::string zeroed = s;
    zeroed.replace(31, 4, std::string(4, '\0'));
    const std::uint32_t crc = proxy::detail::crc32c(zeroed);
    CHECK(s.substr(31) ==
          bytes({static_cast<int>(crc >> 24), static_cast<int>((crc >> 16) & 0xff),
                 static_cast<int>((crc >> 8) & 0xff), static_cast<int>(crc & 0xff)}));
}
