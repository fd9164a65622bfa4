// The sans-I/O codec: every RFC 6455 framing rule, fed whole, split at every byte boundary into
// two feeds, and one byte at a time, in both delivery modes (reassembled and streamed).
#include <ostream> // doctest prints std::error_code through operator<<
#include <doctest/doctest.h>

#include <sluice/ws.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

using namespace sluice::ws;

namespace {

const std::uint8_t test_key[4] = {0x37, 0xFA, 0x21, 0x3D};

// Builds a frame independently of the library's serializer. len_form forces the length
// encoding: 0 = minimal, 126 = 16-bit, 127 = 64-bit.
std::string frm(int op, const std::string& payload, bool fin = true, bool mask = true, int rsv = 0,
                int len_form = 0) {
    std::string f;
    f += static_cast<char>((fin ? 0x80 : 0) | rsv | op);
    const std::uint64_t n = payload.size();
    const int m = mask ? 0x80 : 0;
    int form = len_form ? len_form : (n < 126 ? 0 : n <= 0xFFFF ? 126 : 127);
    if (form == 0) {
        f += static_cast<char>(m | static_cast<int>(n));
    } else if (form == 126) {
        f += static_cast<char>(m | 126);
        f += static_cast<char>(n >> 8);
        f += static_cast<char>(n & 0xFF);
    } else {
        f += static_cast<char>(m | 127);
        for (int s = 56; s >= 0; s -= 8) f += static_cast<char>((n >> s) & 0xFF);
    }
    if (mask) {
        f.append(reinterpret_cast<const char*>(test_key), 4);
        for (std::size_t i = 0; i < n; ++i)
            f += static_cast<char>(payload[i] ^ static_cast<char>(test_key[i % 4]));
    } else {
        f += payload;
    }
    return f;
}

std::string close_payload(int code, const std::string& reason = "") {
    std::string s;
    s += static_cast<char>(code >> 8);
    s += static_cast<char>(code & 0xFF);
    return s + reason;
}

std::string bytes(std::initializer_list<int> l) {
    std::string s;
    for (int b : l) s += static_cast<char>(b);
    return s;
}

std::string describe_payload(const std::uint8_t* p, std::size_t n) {
    if (n > 64) {
        std::uint32_t sum = 0;
        for (std::size_t i = 0; i < n; ++i) sum = sum * 31 + p[i];
        return "#" + std::to_string(n) + "/" + std::to_string(sum);
    }
    return std::string(reinterpret_cast<const char*>(p), n);
}

// Decodes a frame the codec asked us to send, checking masking matches the role.
std::string describe_sent(const std::uint8_t* p, std::size_t n, role r) {
    REQUIRE(n >= 2);
    const int op = p[0] & 0x0F;
    REQUIRE((p[0] & 0x80) != 0);
    const bool masked = (p[1] & 0x80) != 0;
    CHECK(masked == (r == role::client));
    std::size_t len = p[1] & 0x7F;
    REQUIRE(len <= 125);
    std::size_t i = 2;
    std::uint8_t key[4] = {0, 0, 0, 0};
    if (masked) {
        std::memcpy(key, p + 2, 4);
        i = 6;
    }
    REQUIRE(n == i + len);
    std::string pl;
    for (std::size_t k = 0; k < len; ++k) pl += static_cast<char>(p[i + k] ^ key[k % 4]);
    if (op == 0xA) return "send:pong:" + pl;
    if (op == 0x8) {
        if (pl.empty()) return "send:close";
        REQUIRE(pl.size() >= 2);
        const int code =
            (static_cast<unsigned char>(pl[0]) << 8) | static_cast<unsigned char>(pl[1]);
        return "send:close:" + std::to_string(code) + (pl.size() > 2 ? ":" + pl.substr(2) : "");
    }
    return "send:op" + std::to_string(op);
}

struct recorder {
    role r;
    std::vector<std::string> ev;
    std::string partial; // streamed fragments, joined until fin
    bool streaming_started = false;

    void operator()(const event& e) {
        switch (e.type) {
        case event_type::message:
            ev.push_back((e.op == opcode::text ? "text:" : "binary:") +
                         describe_payload(e.data, e.size));
            break;
        case event_type::fragment:
            partial.append(reinterpret_cast<const char*>(e.data), e.size);
            if (e.fin) {
                ev.push_back((e.op == opcode::text ? "text:" : "binary:") +
                             describe_payload(reinterpret_cast<const std::uint8_t*>(partial.data()),
                                              partial.size()));
                partial.clear();
            }
            break;
        case event_type::ping:
            ev.push_back("ping:" + std::string(e.view()));
            break;
        case event_type::pong:
            ev.push_back("pong:" + std::string(e.view()));
            break;
        case event_type::close:
            ev.push_back("close:" + std::to_string(e.code) +
                         (e.size ? ":" + std::string(e.view()) : ""));
            break;
        case event_type::send:
            ev.push_back(describe_sent(e.data, e.size, r));
            break;
        case event_type::fail:
            ev.push_back("fail:" + std::to_string(e.code));
            break;
        case event_type::disconnect:
            ev.push_back("disconnect");
            break;
        }
    }
};

std::vector<std::string> run(role r, const std::vector<std::string>& chunks, options o) {
    codec c(r, o);
    recorder rec{r, {}, {}, false};
    for (const auto& ch : chunks) {
        std::vector<std::uint8_t> buf(ch.begin(), ch.end()); // fresh buffer: unmasked in place
        c.feed(buf.data(), buf.size(), rec);
    }
    CHECK(c.buffered_capacity() == 0); // every case ends idle, closed or failed
    return rec.ev;
}

void expect_events(const std::string& in, const std::vector<std::string>& want,
                   role r = role::server, options o = options{}) {
    for (bool reassemble : {true, false}) {
        o.reassemble = reassemble;
        CAPTURE(reassemble);
        {
            INFO("whole");
            CHECK(run(r, {in}, o) == want);
        }
        // Split into two feeds at every boundary (sampled for large inputs).
        const std::size_t step = in.size() > 3000 ? 997 : 1;
        for (std::size_t cut = 1; cut < in.size(); cut += step) {
            INFO("split at " << cut);
            REQUIRE(run(r, {in.substr(0, cut), in.substr(cut)}, o) == want);
        }
        std::vector<std::string> one;
        for (char ch : in) one.emplace_back(1, ch);
        INFO("byte by byte");
        CHECK(run(r, one, o) == want);
    }
}

std::vector<std::string> failed(int code) {
    return {"send:close:" + std::to_string(code), "fail:" + std::to_string(code), "disconnect"};
}

std::vector<std::string> cat(std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

const std::vector<std::string> clean_close = {"close:1000", "send:close:1000", "disconnect"};
const std::string close1000 = frm(8, close_payload(1000));

} // namespace

TEST_CASE("codec: the codec is small and owns no heap buffer while idle") {
    MESSAGE("sizeof(sluice::ws::codec) = " << sizeof(codec));
    CHECK(sizeof(codec) <= 256);
    codec c(role::server);
    CHECK(c.buffered_capacity() == 0);
    CHECK(c.footprint() == 0);
}

TEST_CASE("codec: text and binary of every length form (Autobahn 1.1/1.2)") {
    for (std::size_t n : {0u, 1u, 125u, 126u, 127u, 128u, 1000u, 65535u, 65536u, 70000u}) {
        CAPTURE(n);
        std::string t(n, 'x');
        std::string b;
        for (std::size_t i = 0; i < n; ++i) b += static_cast<char>(i * 13);
        const std::uint8_t* tp = reinterpret_cast<const std::uint8_t*>(t.data());
        const std::uint8_t* bp = reinterpret_cast<const std::uint8_t*>(b.data());
        expect_events(frm(1, t) + close1000, cat({"text:" + describe_payload(tp, n)}, clean_close));
        expect_events(frm(2, b) + close1000,
                      cat({"binary:" + describe_payload(bp, n)}, clean_close));
    }
}

TEST_CASE("codec: 64 KiB sent in 997-byte fragments is reassembled (Autobahn 1.1.8)") {
    std::string msg(65536, 'z');
    std::string in;
    for (std::size_t off = 0; off < msg.size(); off += 997) {
        const std::size_t k = std::min<std::size_t>(997, msg.size() - off);
        in += frm(off == 0 ? 1 : 0, msg.substr(off, k), off + k == msg.size());
    }
    expect_events(in, {"text:" + describe_payload(reinterpret_cast<const std::uint8_t*>(msg.data()),
                                                  msg.size())});
}

TEST_CASE("codec: ping/pong (Autobahn 2)") {
    expect_events(frm(9, ""), {"ping:", "send:pong:"});
    expect_events(frm(9, "Hello"), {"ping:Hello", "send:pong:Hello"});
    std::string p125(125, '\xfe');
    expect_events(frm(9, p125), {"ping:" + p125, "send:pong:" + p125});
    expect_events(frm(9, std::string(126, 'a')), failed(1002));                     // 2.5
    expect_events(frm(10, "unsolicited"), {"pong:unsolicited"});                    // 2.7/2.8
    expect_events(frm(10, "x") + frm(9, "y"), {"pong:x", "ping:y", "send:pong:y"}); // 2.9
    std::string ten;
    std::vector<std::string> want;
    for (int i = 0; i < 10; ++i) {
        ten += frm(9, "p" + std::to_string(i));
        want.push_back("ping:p" + std::to_string(i));
        want.push_back("send:pong:p" + std::to_string(i));
    }
    expect_events(ten, want); // 2.10/2.11: ten pongs, in order
}

TEST_CASE("codec: auto_pong can be disabled") {
    options o;
    o.auto_pong = false;
    expect_events(frm(9, "a"), {"ping:a"}, role::server, o);
}

TEST_CASE("codec: reserved bits without an extension fail with 1002 (Autobahn 3)") {
    for (int rsv : {0x40, 0x20, 0x10, 0x60, 0x50, 0x30, 0x70}) {
        CAPTURE(rsv);
        expect_events(frm(1, "Hello", true, true, rsv), failed(1002));
        expect_events(frm(2, "\x01\x02", true, true, rsv), failed(1002));
        expect_events(frm(9, "", true, true, rsv), failed(1002));
        expect_events(frm(8, close_payload(1000), true, true, rsv), failed(1002));
        // 3.2: a valid message is echoed first; no pong for the ping after the bad frame.
        expect_events(frm(1, "ok") + frm(1, "bad", true, true, rsv) + frm(9, "p"),
                      cat({"text:ok"}, failed(1002)));
    }
}

TEST_CASE("codec: reserved opcodes fail with 1002 (Autobahn 4)") {
    for (int op : {3, 4, 5, 6, 7, 11, 12, 13, 14, 15}) {
        CAPTURE(op);
        expect_events(frm(op, ""), failed(1002));
        expect_events(frm(op, "payload"), failed(1002));
        expect_events(frm(1, "ok") + frm(op, "x") + frm(9, "p"), cat({"text:ok"}, failed(1002)));
    }
}

TEST_CASE("codec: masking rules by role") {
    // A server receiving an unmasked frame fails with 1002, before the payload arrives.
    expect_events(frm(1, "Hello", true, false), failed(1002));
    expect_events(frm(9, "", true, false), failed(1002));
    // A client receiving a masked frame fails with 1002 (the client's close frame is masked).
    expect_events(frm(1, "Hello", true, true), failed(1002), role::client);
    // A client receives unmasked frames, answers pings with masked pongs.
    expect_events(frm(1, "Hello", true, false) + frm(9, "pp", true, false),
                  {"text:Hello", "ping:pp", "send:pong:pp"}, role::client);
}

TEST_CASE("codec: fragmentation (Autobahn 5)") {
    // 5.1/5.2: fragmented control frames.
    expect_events(frm(9, "ab", false) + frm(0, "cd"), failed(1002));
    expect_events(frm(10, "ab", false) + frm(0, "cd"), failed(1002));
    // 5.3-5.5: text in two fragments.
    expect_events(frm(1, "frag", false) + frm(0, "ment"), {"text:fragment"});
    // 5.6-5.8: a ping between fragments gets its pong first.
    expect_events(frm(1, "frag", false) + frm(9, "ping") + frm(0, "ment"),
                  {"ping:ping", "send:pong:ping", "text:fragment"});
    // 5.19/5.20: two pings interleaved with several fragments.
    expect_events(frm(1, "a", false) + frm(0, "b", false) + frm(9, "1") + frm(0, "c", false) +
                      frm(9, "2") + frm(0, "d", false) + frm(0, "e"),
                  {"ping:1", "send:pong:1", "ping:2", "send:pong:2", "text:abcde"});
    // A close between fragments ends the connection (7.1.5).
    expect_events(frm(1, "ab", false) + close1000 + frm(0, "cd"), clean_close);
    // 5.9-5.17: continuation with nothing to continue.
    expect_events(frm(0, "x"), failed(1002));
    expect_events(frm(0, "x", false), failed(1002));
    expect_events(frm(0, "x", false) + frm(0, "y"), failed(1002));
    expect_events(frm(1, "ok") + frm(0, "x"), cat({"text:ok"}, failed(1002)));
    // 5.18: a new data frame while a fragmented message is open.
    expect_events(frm(1, "a", false) + frm(1, "b"), failed(1002));
    expect_events(frm(2, "a", false) + frm(1, "b"), failed(1002));
    // Binary fragments.
    expect_events(frm(2, std::string("\x00\x01", 2), false) + frm(0, "\x02", false) + frm(0, ""),
                  {"binary:" + std::string("\x00\x01\x02", 3)});
}

TEST_CASE("codec: empty text messages and fragments (Autobahn 6.1)") {
    expect_events(frm(1, ""), {"text:"});
    expect_events(frm(1, "", false) + frm(0, "", false) + frm(0, ""), {"text:"});
    expect_events(frm(1, "", false) + frm(0, "middle", false) + frm(0, ""), {"text:middle"});
}

TEST_CASE("codec: UTF-8 across fragments and partial payloads (Autobahn 6.2-6.4)") {
    const std::string kosme =
        bytes({0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5});
    expect_events(frm(1, kosme), {"text:" + kosme});
    // One byte per frame, splitting code points.
    std::string one_per_frame;
    for (std::size_t i = 0; i < kosme.size(); ++i)
        one_per_frame += frm(i == 0 ? 1 : 0, kosme.substr(i, 1), i + 1 == kosme.size());
    expect_events(one_per_frame, {"text:" + kosme});
    // 6.3: surrogate in the middle, whole and one byte per frame.
    const std::string bad = kosme + bytes({0xED, 0xA0, 0x80}) + "edited";
    expect_events(frm(1, bad), failed(1007));
    std::string bad_frames;
    for (std::size_t i = 0; i < bad.size(); ++i)
        bad_frames += frm(i == 0 ? 1 : 0, bad.substr(i, 1), i + 1 == bad.size());
    expect_events(bad_frames, failed(1007));
    // Truncated sequence at the end of the message.
    expect_events(frm(1, "ab" + bytes({0xE2, 0x82})), failed(1007));
    expect_events(frm(1, "ab" + bytes({0xE2}), false) + frm(0, bytes({0x82})), failed(1007));
    // A code point split across fragments is fine.
    expect_events(frm(1, "ab" + bytes({0xE2}), false) + frm(0, bytes({0x82, 0xAC})),
                  {"text:ab" + bytes({0xE2, 0x82, 0xAC})});
    // Invalid in a later fragment, and in a binary message (not checked).
    expect_events(frm(1, "ok", false) + frm(0, bytes({0xFF})), failed(1007));
    expect_events(frm(2, bytes({0xFF, 0xFE})), {"binary:" + bytes({0xFF, 0xFE})});
}

TEST_CASE("codec: an invalid byte fails before the rest of the frame arrives (6.4 fail-fast)") {
    const std::string kosme =
        bytes({0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5});
    const std::string tail = bytes({0xF4, 0x90, 0x80, 0x80}) + "edited";
    for (bool fragmented : {false, true}) {
        std::string whole = fragmented ? frm(1, kosme, false) + frm(0, tail) : frm(1, kosme + tail);
        // Everything up to and including the 0x90 that makes F4 impossible.
        const std::size_t upto = whole.size() - tail.size() + 2;
        for (std::size_t cut = 1; cut <= upto; ++cut) {
            codec c(role::server);
            recorder rec{role::server, {}, {}, false};
            std::vector<std::uint8_t> a(whole.begin(), whole.begin() + static_cast<long>(cut));
            std::vector<std::uint8_t> b(whole.begin() + static_cast<long>(cut),
                                        whole.begin() + static_cast<long>(upto));
            c.feed(a.data(), a.size(), rec);
            c.feed(b.data(), b.size(), rec);
            REQUIRE(rec.ev == failed(1007)); // the remaining 8 bytes never arrived
        }
    }
}

TEST_CASE("codec: close handshake and close codes (Autobahn 7)") {
    // 7.3.1: empty close; the reply is empty too.
    expect_events(frm(8, ""), {"close:1005", "send:close", "disconnect"});
    // 7.3.2: one-byte payload.
    expect_events(frm(8, "\x03"), failed(1002));
    // Code + reason, 123-byte reason.
    expect_events(frm(8, close_payload(1000, "bye")),
                  {"close:1000:bye", "send:close:1000", "disconnect"});
    std::string r123(123, 'r');
    expect_events(frm(8, close_payload(1000, r123)),
                  {"close:1000:" + r123, "send:close:1000", "disconnect"});
    // 7.3.6: 124-byte reason makes a 126-byte control frame.
    expect_events(frm(8, close_payload(1000, r123 + "r")), failed(1002));
    // 7.5: reason that is not UTF-8.
    expect_events(frm(8, close_payload(1000, bytes({0xCE, 0xBA, 0xED, 0xA0, 0x80}))), failed(1007));
    // 7.7: valid codes are echoed unchanged.
    for (int code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000,
                     3999, 4000, 4999}) {
        CAPTURE(code);
        const std::string c = std::to_string(code);
        expect_events(frm(8, close_payload(code)), {"close:" + c, "send:close:" + c, "disconnect"});
    }
    // 7.9: invalid codes.
    for (int code : {0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}) {
        CAPTURE(code);
        expect_events(frm(8, close_payload(code)), failed(1002));
    }
    // 7.1: a message then close; anything after the close is ignored (second close, ping, text).
    expect_events(frm(1, "Hello") + close1000 + close1000 + frm(9, "p") + frm(1, "late"),
                  cat({"text:Hello"}, clean_close));
    // Garbage after a close is not even parsed.
    expect_events(close1000 + bytes({0xFF, 0xFF, 0xFF}), clean_close);
}

TEST_CASE("codec: client side of the close handshake does not disconnect; failures do") {
    expect_events(frm(8, close_payload(1001), true, false), {"close:1001", "send:close:1001"},
                  role::client);
    expect_events(frm(8, "\x03", true, false), failed(1002), role::client);
}

TEST_CASE("codec: payload length encodings") {
    // Non-minimal 16-bit and 64-bit lengths.
    expect_events(frm(1, "short", true, true, 0, 126), failed(1002));
    expect_events(frm(1, std::string(125, 'a'), true, true, 0, 126), failed(1002));
    expect_events(frm(1, std::string(200, 'a'), true, true, 0, 127), failed(1002));
    expect_events(frm(1, std::string(65535, 'a'), true, true, 0, 127), failed(1002));
    // Minimal boundaries are accepted.
    expect_events(frm(2, std::string(126, 'a'), true, true, 0, 126),
                  {"binary:" +
                   describe_payload(
                       reinterpret_cast<const std::uint8_t*>(std::string(126, 'a').data()), 126)});
    // 64-bit length with the most significant bit set.
    std::string msb = bytes({0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0x01, 1, 2, 3, 4});
    expect_events(msb, failed(1002));
    // A huge (legal) length is refused by the size limit before any payload.
    std::string huge = bytes({0x82, 0xFF, 0x00, 0, 0, 0x01, 0, 0, 0, 0, 1, 2, 3, 4});
    expect_events(huge, failed(1009));
}

TEST_CASE("codec: max message size (1009)") {
    options o;
    o.max_message_size = 10;
    expect_events(frm(1, std::string(10, 'a')), {"text:aaaaaaaaaa"}, role::server, o);
    expect_events(frm(1, std::string(11, 'a')), failed(1009), role::server, o);
    expect_events(frm(1, "aaaaaa", false) + frm(0, "bbbbbb"), failed(1009), role::server, o);
    expect_events(frm(1, "aaaaa", false) + frm(0, "bbbbb"), {"text:aaaaabbbbb"}, role::server, o);
    // Control frames do not count toward the message.
    expect_events(frm(1, "aaaaa", false) + frm(9, "12345678") + frm(0, "bbbbb"),
                  {"ping:12345678", "send:pong:12345678", "text:aaaaabbbbb"}, role::server, o);
    CHECK(options{}.max_message_size == 16u * 1024 * 1024);
}

TEST_CASE("codec: whole messages in one read are views into the read buffer") {
    codec c(role::server);
    std::string in = frm(1, "view me");
    std::vector<std::uint8_t> buf(in.begin(), in.end());
    const std::uint8_t* seen = nullptr;
    c.feed(buf.data(), buf.size(), [&](const event& e) { seen = e.data; });
    CHECK(seen == buf.data() + 6);
    CHECK(c.buffered_capacity() == 0);
}

TEST_CASE("codec: reassembly buffer is released after the message") {
    codec c(role::server);
    std::string in = frm(1, "abc", false) + frm(0, "def");
    std::vector<std::uint8_t> a(in.begin(), in.begin() + 9), b(in.begin() + 9, in.end());
    std::string got;
    auto h = [&](const event& e) {
        if (e.type == event_type::message) got = std::string(e.view());
    };
    c.feed(a.data(), a.size(), h);
    CHECK(c.buffered_capacity() > 0);
    c.feed(b.data(), b.size(), h);
    CHECK(got == "abcdef");
    CHECK(c.buffered_capacity() == 0);
}

TEST_CASE("codec: feed returns the failure; later input is ignored") {
    codec c(role::server);
    std::string in = frm(0, "x") + frm(1, "ignored");
    std::vector<std::uint8_t> buf(in.begin(), in.end());
    int n = 0;
    auto ec = c.feed(buf.data(), buf.size(), [&](const event&) { ++n; });
    CHECK(ec == error::unexpected_continuation);
    CHECK(ec == make_error_code(error::unexpected_continuation));
    CHECK(c.last_error() == error::unexpected_continuation);
    CHECK(c.closed());
    CHECK(c.should_disconnect());
    CHECK(n == 3);
    std::vector<std::uint8_t> more(buf);
    CHECK(!c.feed(more.data(), more.size(), [&](const event&) { ++n; }));
    CHECK(n == 3);
}

namespace {
struct counter_rng {
    std::uint8_t next = 1;
    void operator()(std::uint8_t* out, std::size_t n) {
        for (std::size_t i = 0; i < n; ++i) out[i] = next++;
    }
};

struct parsed_frame {
    int op;
    bool fin;
    bool masked;
    std::string key;
    std::string payload;
};

std::vector<parsed_frame> parse_all(const std::string& s) {
    std::vector<parsed_frame> out;
    std::size_t i = 0;
    while (i < s.size()) {
        const auto* p = reinterpret_cast<const std::uint8_t*>(s.data()) + i;
        parsed_frame f{p[0] & 0x0F, (p[0] & 0x80) != 0, (p[1] & 0x80) != 0, {}, {}};
        std::uint64_t len = p[1] & 0x7F;
        std::size_t h = 2;
        if (len == 126) {
            len = (std::uint64_t{p[2]} << 8) | p[3];
            h = 4;
        } else if (len == 127) {
            len = 0;
            for (int k = 0; k < 8; ++k) len = (len << 8) | p[2 + k];
            h = 10;
        }
        if (f.masked) {
            f.key.assign(reinterpret_cast<const char*>(p + h), 4);
            h += 4;
        }
        for (std::uint64_t k = 0; k < len; ++k)
            f.payload += static_cast<char>(
                p[h + k] ^ (f.masked ? static_cast<std::uint8_t>(f.key[k % 4]) : 0));
        out.push_back(f);
        i += h + len;
    }
    REQUIRE(i == s.size());
    return out;
}
} // namespace

TEST_CASE("codec: encoding frames, server side (unmasked, minimal lengths)") {
    codec c(role::server);
    for (std::size_t n : {0u, 125u, 126u, 65535u, 65536u}) {
        std::string out;
        REQUIRE(!c.encode_binary(std::string(n, 'b').data(), n, out));
        CHECK(out.size() == n + (n < 126 ? 2 : n <= 65535 ? 4 : 10));
        auto fr = parse_all(out);
        REQUIRE(fr.size() == 1);
        CHECK(fr[0].op == 2);
        CHECK(fr[0].fin);
        CHECK(!fr[0].masked);
        CHECK(fr[0].payload == std::string(n, 'b'));
    }
    std::string out;
    CHECK(!c.encode_text("Hello", out));
    CHECK(out == std::string("\x81\x05Hello"));
    CHECK(c.encode_text(bytes({0xC0, 0x80}), out) == error::invalid_utf8);
}

TEST_CASE("codec: client frames are masked with a fresh key each") {
    counter_rng rng;
    options o;
    o.rng = random_source::from(rng);
    codec c(role::client, o);
    std::string out;
    REQUIRE(!c.encode_text("Hello", out));
    // RFC 6455 §5.7 style check: header, key 01 02 03 04, masked payload.
    std::string want = bytes({0x81, 0x85, 1, 2, 3, 4});
    const char* h = "Hello";
    for (int i = 0; i < 5; ++i) want += static_cast<char>(h[i] ^ (1 + i % 4));
    CHECK(out == want);
    REQUIRE(!c.encode_text("Hello", out));
    auto fr = parse_all(out);
    REQUIRE(fr.size() == 2);
    CHECK(fr[0].key != fr[1].key);
    CHECK(fr[1].payload == "Hello");
}

TEST_CASE("codec: outgoing fragmentation, streamed parts and control frames between") {
    options o;
    o.fragment_size = 4;
    codec c(role::server, o);
    std::string out;
    REQUIRE(!c.encode_text("Hello World", out));
    CHECK(out.size() == c.encoded_size(11));
    auto fr = parse_all(out);
    REQUIRE(fr.size() == 3);
    CHECK((fr[0].op == 1 && !fr[0].fin && fr[0].payload == "Hell"));
    CHECK((fr[1].op == 0 && !fr[1].fin && fr[1].payload == "o Wo"));
    CHECK((fr[2].op == 0 && fr[2].fin && fr[2].payload == "rld"));

    codec s(role::server);
    out.clear();
    REQUIRE(!s.encode_part(opcode::text, "ab", 2, false, out));
    CHECK(s.encode_text("x", out) == error::message_in_progress);
    REQUIRE(!s.encode_ping("p", out));
    const std::string euro = bytes({0xE2, 0x82, 0xAC});
    REQUIRE(!s.encode_part(opcode::text, euro.data(), 1, false, out)); // split code point is fine
    CHECK(s.encode_part(opcode::text, euro.data() + 1, 1, true, out) == error::invalid_utf8);
    REQUIRE(!s.encode_part(opcode::text, euro.data() + 1, 2, true, out));
    fr = parse_all(out);
    REQUIRE(fr.size() == 4);
    CHECK((fr[0].op == 1 && !fr[0].fin));
    CHECK((fr[1].op == 9 && fr[1].payload == "p"));
    CHECK((fr[2].op == 0 && !fr[2].fin));
    CHECK((fr[3].op == 0 && fr[3].fin));
}

TEST_CASE("codec: caller-buffer encoding reports a short buffer") {
    codec c(role::server);
    std::uint8_t buf[8];
    std::size_t w = 99;
    CHECK(c.encode_message(opcode::binary, "0123456789", 10, buf, sizeof buf, w) ==
          error::buffer_too_small);
    CHECK(w == 0);
    CHECK(!c.encode_message(opcode::binary, "012345", 6, buf, sizeof buf, w));
    CHECK(w == 8);
}

TEST_CASE("codec: control frame and close encoding rules") {
    codec c(role::server);
    std::string out;
    CHECK(c.encode_ping(std::string(126, 'a'), out) == error::payload_too_long);
    CHECK(!c.encode_ping(std::string(125, 'a'), out));
    for (int bad : {0, 999, 1004, 1006, 1015, 2000, 5000})
        CHECK(c.encode_close(static_cast<std::uint16_t>(bad), "", out) ==
              error::invalid_close_code);
    CHECK(c.encode_close(close_code::no_status, "reason", out) == error::invalid_close_code);
    CHECK(c.encode_close(1000, std::string(124, 'r'), out) == error::payload_too_long);
    CHECK(c.encode_close(1000, bytes({0xFF}), out) == error::invalid_utf8);
    out.clear();
    CHECK(!c.encode_close(4000, "bye", out));
    CHECK(out == std::string("\x88\x05\x0f\xa0") + "bye");
    CHECK(c.close_sent());
    CHECK(c.encode_text("late", out) == error::closed);
    CHECK(c.encode_ping("", out) == error::closed);
    CHECK(c.encode_close(1000, "", out) == error::closed);
    codec d(role::server);
    out.clear();
    CHECK(!d.encode_close(close_code::no_status, "", out));
    CHECK(out == std::string("\x88\x00", 2));
}

TEST_CASE("codec: server-initiated close completes on the reply and disconnects") {
    codec c(role::server);
    std::string out;
    REQUIRE(!c.encode_close(1001, "", out));
    recorder rec{role::server, {}, {}, false};
    std::string in =
        frm(1, "still delivered") + frm(9, "no pong after close") + frm(8, close_payload(1001));
    std::vector<std::uint8_t> buf(in.begin(), in.end());
    c.feed(buf.data(), buf.size(), rec);
    CHECK(rec.ev == std::vector<std::string>{"text:still delivered", "ping:no pong after close",
                                             "close:1001", "disconnect"});
}

TEST_CASE("codec: the close handler may answer with its own code") {
    codec c(role::server);
    std::string in = frm(8, close_payload(1000));
    std::vector<std::uint8_t> buf(in.begin(), in.end());
    std::string out;
    std::vector<std::string> ev;
    c.feed(buf.data(), buf.size(), [&](const event& e) {
        if (e.type == event_type::close) CHECK(!c.encode_close(1001, "going", out));
        if (e.type == event_type::send) ev.push_back("send");
        if (e.type == event_type::disconnect) ev.push_back("disconnect");
    });
    CHECK(ev == std::vector<std::string>{"disconnect"});
    CHECK(out == std::string("\x88\x07\x03\xe9going"));
}

TEST_CASE("codec: client to server round trip through both codecs") {
    counter_rng rng;
    options co;
    co.rng = random_source::from(rng);
    co.fragment_size = 7;
    codec client(role::client, co);
    std::string wire;
    std::string big(5000, 'q');
    REQUIRE(!client.encode_text("hello server", wire));
    REQUIRE(!client.encode_ping("pi", wire));
    REQUIRE(!client.encode_binary(big.data(), big.size(), wire));
    REQUIRE(!client.encode_close(1000, "done", wire));
    codec server(role::server);
    recorder rec{role::server, {}, {}, false};
    std::vector<std::uint8_t> buf(wire.begin(), wire.end());
    server.feed(buf.data(), buf.size(), rec);
    CHECK(rec.ev ==
          std::vector<std::string>{
              "text:hello server", "ping:pi", "send:pong:pi",
              "binary:" +
                  describe_payload(reinterpret_cast<const std::uint8_t*>(big.data()), big.size()),
              "close:1000:done", "send:close:1000", "disconnect"});
}

namespace {
// A toy extension on RSV1: the payload of a marked message is each byte doubled on decode.
struct doubling_ext final : extension {
    std::uint8_t rsv_bits() const noexcept override { return rsv1; }
    error on_header(std::uint8_t rsv, opcode op, bool) noexcept override {
        if (is_control(op) || op == opcode::continuation || rsv != rsv1)
            return error::extension_failed;
        return error{};
    }
    error decode(const std::uint8_t* d, std::size_t n, bool,
                 extension_sink& out) noexcept override {
        for (std::size_t i = 0; i < n; ++i) {
            const std::uint8_t two[2] = {d[i], d[i]};
            const error e = out.write(two, 2);
            if (e != error{}) return e;
        }
        return error{};
    }
};
} // namespace

TEST_CASE("codec: RSV1 is routed through the extension hook") {
    doubling_ext ext;
    options o;
    o.ext = &ext;
    expect_events(frm(1, "abc", true, true, 0x40), {"text:aabbcc"}, role::server, o);
    expect_events(frm(1, "ab", false, true, 0x40) + frm(9, "p") + frm(0, "c"),
                  {"ping:p", "send:pong:p", "text:aabbcc"}, role::server, o);
    expect_events(frm(1, "plain"), {"text:plain"}, role::server, o);
    // The extension vetoes RSV1 on control and continuation frames.
    expect_events(frm(9, "", true, true, 0x40), failed(1002), role::server, o);
    expect_events(frm(1, "a", false) + frm(0, "b", true, true, 0x40), failed(1002), role::server,
                  o);
    // Bits the extension did not negotiate still fail.
    expect_events(frm(1, "a", true, true, 0x20), failed(1002), role::server, o);
    // The size limit and UTF-8 apply to the decoded bytes.
    o.max_message_size = 5;
    expect_events(frm(1, "abc", true, true, 0x40), failed(1009), role::server, o);
    o.max_message_size = 100;
    expect_events(frm(1, bytes({0xC3}), true, true, 0x40), failed(1007), role::server, o);
}

TEST_CASE("mask: word-at-a-time matches byte-wise for every length, phase and alignment") {
    const std::uint8_t key[4] = {0xA1, 0x02, 0xF3, 0x44};
    std::vector<std::uint8_t> src(300), dst(320), ref(300);
    for (std::size_t i = 0; i < src.size(); ++i) src[i] = static_cast<std::uint8_t>(i * 7 + 1);
    for (std::size_t n = 0; n < 200; ++n)
        for (std::size_t phase = 0; phase < 4; ++phase)
            for (std::size_t off = 0; off < 8; ++off) {
                for (std::size_t i = 0; i < n; ++i) ref[i] = src[i] ^ key[(phase + i) % 4];
                std::size_t ph = mask_copy(dst.data() + off, src.data(), n, key, phase);
                REQUIRE(ph == (phase + n) % 4);
                if (n == 0) continue;
                REQUIRE(std::memcmp(dst.data() + off, ref.data(), n) == 0);
                std::vector<std::uint8_t> inplace(src.begin() + 0,
                                                  src.begin() + static_cast<long>(n));
                mask_inplace(inplace.data(), n, key, phase);
                REQUIRE(std::memcmp(inplace.data(), ref.data(), n) == 0);
            }
    // A payload unmasked in arbitrary pieces keeps the rotation.
    std::vector<std::uint8_t> whole(src);
    mask_inplace(whole.data(), whole.size(), key, 0);
    std::vector<std::uint8_t> pieces(src);
    std::size_t ph = 0, pos = 0;
    for (std::size_t k : {1u, 3u, 17u, 2u, 64u, 9u, 100u, 104u}) {
        ph = mask_inplace(pieces.data() + pos, k, key, ph);
        pos += k;
    }
    CHECK(pos == 300);
    CHECK(pieces == whole);
}

TEST_CASE("frame: header round trip and parse checks") {
    for (std::uint64_t len : {0ull, 125ull, 126ull, 65535ull, 65536ull, (1ull << 40)}) {
        for (bool m : {false, true}) {
            frame_header h;
            h.fin = false;
            h.rsv = rsv1;
            h.op = opcode::binary;
            h.masked = m;
            h.length = len;
            h.mask[0] = 9;
            h.mask[3] = 7;
            std::uint8_t buf[max_header_size];
            const std::size_t n = write_header(buf, h);
            CHECK(n == header_size(len, m));
            CHECK(header_size_from_byte1(buf[1]) == n);
            frame_header g;
            std::size_t hl = 0;
            error e{};
            CHECK(parse_header(buf, n - 1, g, hl, e) == parse_status::incomplete);
            REQUIRE(parse_header(buf, n, g, hl, e) == parse_status::complete);
            CHECK(hl == n);
            CHECK((g.fin == h.fin && g.rsv == h.rsv && g.op == h.op && g.masked == m &&
                   g.length == len));
            if (m) CHECK((g.mask[0] == 9 && g.mask[3] == 7));
        }
    }
}

TEST_CASE("error: category, messages and close codes") {
    std::error_code ec = error::invalid_utf8;
    CHECK(std::string(ec.category().name()) == "sluice.ws");
    CHECK(ec.message() == "text message is not valid UTF-8");
    CHECK(close_code_for(error::invalid_utf8) == 1007);
    CHECK(close_code_for(error::invalid_close_reason) == 1007);
    CHECK(close_code_for(error::message_too_big) == 1009);
    CHECK(close_code_for(error::reserved_bits) == 1002);
    CHECK(close_code_for(error::extension_failed) == 1002);
    CHECK(close_code_for(error::closed) == 0);
    CHECK(close_code_for(error::bad_key) == 0);
    for (int i = 1; i <= static_cast<int>(error::bad_extension_response); ++i)
        CHECK(make_error_code(static_cast<error>(i)).message() != "unknown sluice.ws error");
}

TEST_CASE("codec: a frame's declared length reserves nothing; buffers grow with what arrived") {
    // Regression (issue #16, bug 9): the codec reserved the declared payload length when the
    // first bytes of a frame arrived, so a peer declaring 16 MiB and sending 10 bytes cost
    // 16 MiB of address space per connection. Now the reassembly buffer grows geometrically
    // with the bytes that arrived, never with what the header announces.
    const std::size_t declared = std::size_t{16} << 20; // exactly the default limit
    std::string head = bytes({0x82, 0xFF, 0, 0, 0, 0, 0x01, 0, 0, 0});
    head.append(reinterpret_cast<const char*>(test_key), 4);
    std::string first = head + std::string(10, 'z');
    codec c(role::server);
    std::size_t messages = 0, got = 0;
    bool failed = false;
    auto h = [&](const event& e) {
        if (e.type == event_type::message) {
            ++messages;
            got = e.size;
        }
        failed |= e.type == event_type::fail;
    };
    std::vector<std::uint8_t> buf(first.begin(), first.end());
    REQUIRE_FALSE(c.feed(buf.data(), buf.size(), h));
    CHECK(c.buffered_capacity() <= 64);
    CHECK(c.buffered_capacity() >= 10);
    CHECK(c.footprint() == c.buffered_capacity());
    // The rest in reads of 64 KiB: the buffer never holds more than twice what arrived.
    std::size_t arrived = 10;
    std::vector<std::uint8_t> chunk(64 * 1024, 0);
    while (arrived < declared && !failed) {
        const std::size_t k = std::min(chunk.size(), declared - arrived);
        REQUIRE_FALSE(c.feed(chunk.data(), k, h));
        arrived += k;
        if (arrived < declared) {
            CHECK(c.buffered_capacity() <= 2 * arrived);
            if (c.buffered_capacity() > 2 * arrived) break;
        }
    }
    CHECK_FALSE(failed);
    CHECK(messages == 1);
    CHECK(got == declared);
    CHECK(c.buffered_capacity() == 0);
}

TEST_CASE("codec: a continuation frame's declared length reserves nothing either") {
    codec c(role::server);
    std::string part = frm(2, std::string(100, 'a'), false); // first piece, not final
    std::string head = bytes({0x80, 0xFF, 0, 0, 0, 0, 0x00, 0xF0, 0, 0}); // 15 MiB more
    head.append(reinterpret_cast<const char*>(test_key), 4);
    std::string in = part + head + std::string(10, 'b');
    std::vector<std::uint8_t> buf(in.begin(), in.end());
    bool failed = false;
    REQUIRE_FALSE(c.feed(buf.data(), buf.size(), [&](const event& e) {
        failed |= e.type == event_type::fail;
    }));
    CHECK_FALSE(failed);
    CHECK(c.buffered_capacity() >= 110);
    CHECK(c.buffered_capacity() <= 1024);
}

TEST_CASE("codec: over max_message_size is refused with 1009 before any byte is buffered") {
    options o;
    o.max_message_size = 1000;
    codec c(role::server, o);
    std::string in = frm(2, std::string(400, 'a'), false) + frm(0, std::string(700, 'b'));
    std::vector<std::uint8_t> buf(in.begin(), in.begin() + 408 + 8); // first frame + next head
    std::vector<std::string> seen;
    const std::error_code ec = c.feed(buf.data(), buf.size(), [&](const event& e) {
        if (e.type == event_type::fail) seen.push_back("fail:" + std::to_string(e.code));
    });
    CHECK(ec == error::message_too_big);
    CHECK(seen == std::vector<std::string>{"fail:1009"});
    CHECK(c.buffered_capacity() == 0);
}

// ---- wire: byte order of the multi-byte fields, checked against hand-written bytes ----
// RFC 6455 §5.2: the 16- and 64-bit extended lengths are in network byte order and the
// 64-bit one has its most significant bit clear. A byte-order or truncation bug on a
// big-endian or 32-bit target fails these even where encode and decode would agree.

namespace {
struct length_on_wire {
    std::uint64_t length;
    std::vector<std::uint8_t> second_byte_on; // byte 1 (unmasked) and the extended length
};

const length_on_wire wire_lengths[] = {
    {125, {0x7D}},
    {0x1234, {0x7E, 0x12, 0x34}},
    {0xFFFF, {0x7E, 0xFF, 0xFF}},
    {0x10000, {0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00}},
    {(std::uint64_t{1} << 32) + 5, {0x7F, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x05}},
    {0x0102030405060708u, {0x7F, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08}},
    {(std::uint64_t{1} << 63) - 1, {0x7F, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}},
};
} // namespace

TEST_CASE("wire: ws frame lengths are written and read big-endian, up to 2^63-1") {
    const std::uint8_t key[4] = {0xA1, 0xB2, 0xC3, 0xD4};
    for (const length_on_wire& c : wire_lengths) {
        for (bool masked : {false, true}) {
            CAPTURE(c.length);
            CAPTURE(masked);
            std::vector<std::uint8_t> want = {0x82};
            want.insert(want.end(), c.second_byte_on.begin(), c.second_byte_on.end());
            if (masked) {
                want[1] |= 0x80;
                want.insert(want.end(), key, key + 4);
            }
            frame_header h;
            h.op = opcode::binary;
            h.masked = masked;
            std::memcpy(h.mask, key, 4);
            h.length = c.length;
            std::uint8_t buf[max_header_size];
            const std::size_t n = write_header(buf, h);
            CHECK(std::vector<std::uint8_t>(buf, buf + n) == want);

            frame_header got;
            std::size_t header_len = 0;
            error e{};
            REQUIRE(parse_header(want.data(), want.size(), got, header_len, e) ==
                    parse_status::complete);
            CHECK(header_len == want.size());
            CHECK(got.length == c.length);
            CHECK(got.masked == masked);
            if (masked) CHECK(std::memcmp(got.mask, key, 4) == 0);
        }
    }
}

TEST_CASE("wire: ws 64-bit length with the most significant bit set is refused (2^63 and up)") {
    for (std::uint64_t v :
         {std::uint64_t{1} << 63, (std::uint64_t{1} << 63) + 5, ~std::uint64_t{0}}) {
        CAPTURE(v);
        std::vector<std::uint8_t> in = {0x82, 0xFF};
        for (int s = 56; s >= 0; s -= 8) in.push_back(static_cast<std::uint8_t>(v >> s));
        in.insert(in.end(), test_key, test_key + 4);
        frame_header got;
        std::size_t header_len = 0;
        error e{};
        CHECK(parse_header(in.data(), in.size(), got, header_len, e) == parse_status::invalid);
        CHECK(e == error::length_msb_set);
        // Through the codec: a protocol error (1002), even with no size limit.
        options o;
        o.max_message_size = ~std::uint64_t{0};
        expect_events(std::string(in.begin(), in.end()), failed(1002), role::server, o);
    }
}

TEST_CASE("wire: ws codec streams a frame declared 2^32+5 (or 2^63-1) bytes long") {
    // Only the first bytes are fed: a length truncated to 32 bits (5) would end the message
    // after 5 bytes and read the rest as a new frame.
    for (std::uint64_t declared : {(std::uint64_t{1} << 32) + 5, (std::uint64_t{1} << 63) - 1}) {
        CAPTURE(declared);
        std::string in = bytes({0x82, 0xFF});
        for (int s = 56; s >= 0; s -= 8) in += static_cast<char>((declared >> s) & 0xFF);
        in.append(reinterpret_cast<const char*>(test_key), 4);
        const std::string payload = "0123456789abcdef";
        for (std::size_t i = 0; i < payload.size(); ++i)
            in += static_cast<char>(payload[i] ^ static_cast<char>(test_key[i % 4]));
        options o;
        o.max_message_size = ~std::uint64_t{0};
        o.reassemble = false;
        codec c(role::server, o);
        std::string streamed;
        bool ended = false, failed_ = false;
        std::vector<std::uint8_t> buf(in.begin(), in.end());
        CHECK_FALSE(c.feed(buf.data(), buf.size(), [&](const event& e) {
            if (e.type == event_type::fragment) {
                streamed.append(reinterpret_cast<const char*>(e.data), e.size);
                ended |= e.fin;
            }
            failed_ |= e.type == event_type::fail;
        }));
        CHECK_FALSE(failed_);
        CHECK_FALSE(ended);
        CHECK(streamed == payload);
    }
}

TEST_CASE("wire: ws encoded header for a 2^32+5-byte message and a close code, byte by byte") {
    codec server(role::server);
    std::uint8_t head[max_header_size];
    std::size_t written = 0;
    const std::uint64_t big = (std::uint64_t{1} << 32) + 5;
    // A 32-bit size_t cannot name such a message; the frame header cases above cover
    // the length field there.
    if constexpr (sizeof(std::size_t) >= sizeof(std::uint64_t)) {
        // encode_header only describes the payload; it never reads a binary one.
        REQUIRE_FALSE(server.encode_header(opcode::binary, nullptr, static_cast<std::size_t>(big),
                                           head, written));
        const std::vector<std::uint8_t> want = {0x82, 0x7F, 0, 0, 0, 0x01, 0, 0, 0, 0x05};
        CHECK(std::vector<std::uint8_t>(head, head + written) == want);
    }
    std::string out;
    REQUIRE_FALSE(server.encode_close(0x03E9, "bye", out)); // 1001
    CHECK(out == bytes({0x88, 0x05, 0x03, 0xE9, 'b', 'y', 'e'}));
}
