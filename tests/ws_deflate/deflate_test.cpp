// permessage-deflate (RFC 7692), sans-I/O: the RFC's §7.2.3 byte examples, round trips
// through two codecs, and the limits (RSV1 rules, a zip bomb against max_message_size, the
// zlib memory kept between messages). Negotiation is in negotiation_test.cpp.
#include <ostream> // doctest prints std::error_code through operator<<
#include <doctest/doctest.h>

#include <sluice/ws.hpp>
#include <sluice/ws/deflate.hpp>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

using namespace sluice::ws;

namespace {

std::string bytes(std::initializer_list<int> l) {
    std::string s;
    for (int b : l) s += static_cast<char>(b);
    return s;
}

// One raw frame, unmasked unless a key is given (a server-role codec needs masked frames).
std::string frame(opcode op, const std::string& payload, bool fin, std::uint8_t rsv,
                  bool masked) {
    frame_header h;
    h.fin = fin;
    h.op = op;
    h.rsv = rsv;
    h.length = payload.size();
    h.masked = masked;
    const std::uint8_t key[4] = {0xA1, 0x02, 0x7F, 0x33};
    std::memcpy(h.mask, key, 4);
    std::string out(header_size(payload.size(), masked) + payload.size(), '\0');
    write_frame(reinterpret_cast<std::uint8_t*>(&out[0]), h, payload.data(), payload.size());
    return out;
}

struct collected {
    std::vector<std::pair<opcode, std::string>> messages;
    std::vector<std::string> sent; // event_type::send payloads (raw frames)
    std::uint16_t fail_code = 0;
    std::error_code ec;
};

// Feeds `in` to c one byte at a time when `bytewise`, else whole.
collected feed(codec& c, std::string in, bool bytewise = false) {
    collected r;
    auto h = [&](const event& ev) {
        if (ev.type == event_type::message)
            r.messages.emplace_back(ev.op, std::string(ev.view()));
        else if (ev.type == event_type::send)
            r.sent.emplace_back(ev.view());
        else if (ev.type == event_type::fail) {
            r.fail_code = ev.code;
            r.ec = ev.ec;
        }
    };
    auto* p = reinterpret_cast<std::uint8_t*>(&in[0]);
    if (!bytewise) {
        c.feed(p, in.size(), h);
    } else {
        for (std::size_t i = 0; i < in.size(); ++i) c.feed(p + i, 1, h);
    }
    return r;
}

header_list one_header(std::vector<header_field>& store, std::string_view name,
                       std::string_view value) {
    store.assign(1, header_field{name, value});
    return header_list(store);
}

// A server-role codec whose peer (the client) compresses per `a`.
std::unique_ptr<extension> extension_for(std::shared_ptr<permessage_deflate> pmd,
                                         std::string_view offer) {
    std::vector<header_field> f;
    std::string resp;
    return pmd->accept_offer(one_header(f, "Sec-WebSocket-Extensions", offer), resp);
}

deflate_settings takeover_settings() {
    deflate_settings s;
    s.no_context_takeover = false;
    s.peer_no_context_takeover = false;
    s.min_size = 0;
    return s;
}

} // namespace

TEST_CASE("deflate: RFC 7692 §7.2.3 examples, inbound") {
    auto pmd = std::make_shared<permessage_deflate>(takeover_settings());
    codec server(role::server);
    server.adopt_extension(extension_for(pmd, "permessage-deflate"));
    REQUIRE(server.get_extension() != nullptr);
    const std::string hello1 = bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00});
    // §7.2.3.1 one compressed block; §7.2.3.2 the second "Hello" refers to the first.
    const std::string hello2 = bytes({0xf2, 0x00, 0x11, 0x00, 0x00});
    // §7.2.3.3 a block with no compression; §7.2.3.4 BFINAL set; §7.2.3.5 two blocks.
    const std::string stored =
        bytes({0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00});
    const std::string bfinal = bytes({0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00});
    const std::string two =
        bytes({0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00});
    std::string in = frame(opcode::text, hello1, true, rsv1, true) +
                     frame(opcode::text, hello2, true, rsv1, true) +
                     frame(opcode::binary, stored, true, rsv1, true) +
                     frame(opcode::text, bfinal, true, rsv1, true) +
                     frame(opcode::text, two, true, rsv1, true) +
                     // §7.2.3.6: a compressed message whose last fragment is empty (0x00).
                     frame(opcode::text, hello1 + bytes({0x00, 0x00, 0xff, 0xff}), false, rsv1,
                           true) +
                     frame(opcode::continuation, bytes({0x00}), true, 0, true) +
                     // an uncompressed message between compressed ones
                     frame(opcode::text, "plain", true, 0, true);
    for (bool bytewise : {false, true}) {
        CAPTURE(bytewise);
        codec c(role::server);
        c.adopt_extension(extension_for(pmd, "permessage-deflate"));
        collected r = feed(c, in, bytewise);
        CHECK(r.fail_code == 0);
        REQUIRE(r.messages.size() == 7);
        for (std::size_t i = 0; i < 6; ++i) CHECK(r.messages[i].second == "Hello");
        CHECK(r.messages[2].first == opcode::binary);
        CHECK(r.messages[6].second == "plain");
    }
}

TEST_CASE("deflate: RFC 7692 §7.2.3 examples, outbound, with and without context takeover") {
    auto pmd = std::make_shared<permessage_deflate>(takeover_settings());
    std::vector<header_field> f;
    std::string resp;
    codec c(role::server);
    c.adopt_extension(pmd->accept_offer(
        one_header(f, "Sec-WebSocket-Extensions", "permessage-deflate"), resp));
    std::string out;
    REQUIRE_FALSE(c.encode_text("Hello", out));
    // Header: FIN + RSV1 + text, length 7; payload: §7.2.3.1 exactly.
    CHECK(out == bytes({0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}));
    out.clear();
    REQUIRE_FALSE(c.encode_text("Hello", out));
    CHECK(out == bytes({0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00})); // §7.2.3.2

    // server_no_context_takeover: every message compresses alike, from a fresh window.
    codec n(role::server);
    n.adopt_extension(pmd->accept_offer(
        one_header(f, "Sec-WebSocket-Extensions", "permessage-deflate; server_no_context_takeover"),
        resp));
    CHECK(resp.find("server_no_context_takeover") != std::string::npos);
    const std::string hellos = "Hello Hello Hello Hello Hello Hello";
    std::string first;
    REQUIRE_FALSE(n.encode_text(hellos, first));
    CHECK(first.size() < 2 + hellos.size());
    CHECK((static_cast<unsigned char>(first[0]) & 0x40) == 0x40);
    for (int i = 0; i < 3; ++i) {
        out.clear();
        REQUIRE_FALSE(n.encode_text(hellos, out));
        CHECK(out == first);
    }
    // Without a history to keep in step, "Hello" (7 bytes compressed) goes out as it is.
    out.clear();
    REQUIRE_FALSE(n.encode_text("Hello", out));
    CHECK(out == "\x81\x05Hello");
    // Empty messages go out as they are, and do not disturb the compressor: zlib refuses a
    // second sync flush with no input in between, which once turned compression off.
    for (int i = 0; i < 2; ++i) {
        out.clear();
        REQUIRE_FALSE(c.encode_text("", out));
        CHECK(out == std::string("\x81\x00", 2));
    }
    out.clear();
    REQUIRE_FALSE(c.encode_text(hellos, out));
    CHECK((static_cast<unsigned char>(out[0]) & 0x40) == 0x40);
    CHECK(out.size() < hellos.size());

    // Below min_size: sent as is, RSV1 clear (and the zero-copy header path stays open).
    deflate_settings small = takeover_settings();
    small.min_size = 6;
    auto pmd2 = std::make_shared<permessage_deflate>(small);
    codec s(role::server);
    s.adopt_extension(pmd2->accept_offer(
        one_header(f, "Sec-WebSocket-Extensions", "permessage-deflate"), resp));
    out.clear();
    REQUIRE_FALSE(s.encode_text("Hello", out));
    CHECK(out == "\x81\x05Hello");
    std::uint8_t head[max_header_size];
    std::size_t hl = 0;
    CHECK_FALSE(s.encode_header(opcode::text, "Hello", 5, head, hl));
    CHECK(s.encode_header(opcode::text, "Hello!", 6, head, hl) == error::buffer_too_small);
}

namespace {

// A client and a server codec that negotiated with each other through the real handshake
// functions, for round trips.
struct pair_of_codecs {
    std::shared_ptr<permessage_deflate> server_pmd, client_pmd;
    codec server{role::server};
    codec client{role::client};

    pair_of_codecs(const deflate_settings& s, const deflate_settings& c)
        : server_pmd(std::make_shared<permessage_deflate>(s)),
          client_pmd(std::make_shared<permessage_deflate>(c)) {
        std::string offer, resp;
        client_pmd->make_offer(offer);
        std::vector<header_field> f;
        server.adopt_extension(
            server_pmd->accept_offer(one_header(f, "Sec-WebSocket-Extensions", offer), resp));
        REQUIRE(server.get_extension() != nullptr);
        std::error_code ec;
        client.adopt_extension(
            client_pmd->accept_response(one_header(f, "Sec-WebSocket-Extensions", resp), ec));
        REQUIRE_FALSE(ec);
        REQUIRE(client.get_extension() != nullptr);
    }
};

std::string sample_text(std::size_t n, unsigned seed) {
    static const char* words[] = {"sluice ", "deflate ", "window ", "message ", "✓ ", "日本 "};
    std::string s;
    unsigned x = seed;
    while (s.size() < n) {
        x = x * 1103515245u + 12345u;
        s += words[(x >> 16) % 6];
    }
    while (s.size() > n) s.pop_back();
    while (!s.empty() && (static_cast<unsigned char>(s.back()) & 0xC0) == 0x80) s.pop_back();
    if (!s.empty() && static_cast<unsigned char>(s.back()) >= 0xC0) s.pop_back();
    return s;
}

} // namespace

TEST_CASE("deflate: round trips both ways, every context-takeover combination, fed bytewise") {
    for (int mode = 0; mode < 4; ++mode) {
        deflate_settings s = takeover_settings(), c = takeover_settings();
        s.no_context_takeover = (mode & 1) != 0;
        c.no_context_takeover = (mode & 2) != 0;
        for (bool bytewise : {false, true}) {
            CAPTURE(mode);
            CAPTURE(bytewise);
            pair_of_codecs p(s, c);
            std::vector<std::string> texts;
            for (unsigned i = 0; i < 12; ++i) texts.push_back(sample_text(i * 997, i));
            texts.push_back(std::string(300000, 'z'));
            std::string c2s, s2c;
            for (const std::string& t : texts) {
                REQUIRE_FALSE(p.client.encode_text(t, c2s));
                REQUIRE_FALSE(p.server.encode_text(t, s2c));
            }
            // Compression happened: the repetitive text is far smaller on the wire.
            CHECK(c2s.size() < 100000);
            collected at_server = feed(p.server, c2s, bytewise);
            collected at_client = feed(p.client, s2c);
            CHECK(at_server.fail_code == 0);
            CHECK(at_client.fail_code == 0);
            REQUIRE(at_server.messages.size() == texts.size());
            REQUIRE(at_client.messages.size() == texts.size());
            for (std::size_t i = 0; i < texts.size(); ++i) {
                CHECK(at_server.messages[i].second == texts[i]);
                CHECK(at_client.messages[i].second == texts[i]);
            }
        }
    }
}

TEST_CASE("deflate: a compressed message split into many frames (encoder fragment_size)") {
    deflate_settings s = takeover_settings();
    auto spmd = std::make_shared<permessage_deflate>(s);
    options o;
    o.fragment_size = 7; // every compressed message spans several frames, RSV1 on the first
    codec tx(role::server, o);
    std::vector<header_field> f;
    std::string resp;
    tx.adopt_extension(
        spmd->accept_offer(one_header(f, "Sec-WebSocket-Extensions", "permessage-deflate"), resp));
    codec rx(role::client);
    std::error_code ec;
    auto cpmd = std::make_shared<permessage_deflate>(takeover_settings());
    rx.adopt_extension(
        cpmd->accept_response(one_header(f, "Sec-WebSocket-Extensions", resp), ec));
    REQUIRE_FALSE(ec);
    std::string wire;
    const std::string t = sample_text(5000, 7);
    REQUIRE_FALSE(tx.encode_text(t, wire));
    REQUIRE_FALSE(tx.encode_binary(t.data(), t.size(), wire));
    // The first frame has RSV1, the continuations do not.
    CHECK((static_cast<unsigned char>(wire[0]) & 0x70) == 0x40);
    CHECK((static_cast<unsigned char>(wire[9]) & 0x70) == 0x00);
    collected r = feed(rx, wire, true);
    REQUIRE(r.messages.size() == 2);
    CHECK(r.messages[0].second == t);
    CHECK(r.messages[1].first == opcode::binary);
    CHECK(r.messages[1].second == t);
}

TEST_CASE("deflate: RSV1 on a control frame or a continuation fails with 1002") {
    auto pmd = std::make_shared<permessage_deflate>(takeover_settings());
    const std::string hello1 = bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00});
    const std::string cases[] = {
        frame(opcode::ping, "", true, rsv1, true),
        frame(opcode::close, bytes({0x03, 0xe8}), true, rsv1, true),
        frame(opcode::pong, "x", true, rsv1, true),
        frame(opcode::text, hello1, false, rsv1, true) +
            frame(opcode::continuation, "", true, rsv1, true),
        frame(opcode::text, "a", true, 0x20, true), // RSV2: never negotiated
    };
    for (const std::string& in : cases) {
        codec c(role::server);
        c.adopt_extension(extension_for(pmd, "permessage-deflate"));
        collected r = feed(c, in);
        CHECK(r.fail_code == 1002);
        CHECK(r.messages.empty());
    }
    // Corrupt DEFLATE data: 1007 (invalid payload data).
    codec c(role::server);
    c.adopt_extension(extension_for(pmd, "permessage-deflate"));
    collected r = feed(c, frame(opcode::binary, bytes({0xff, 0xff, 0xff, 0x00}), true, rsv1, true));
    CHECK(r.fail_code == 1007);
    CHECK(r.ec == error::bad_compressed_data);
    // Inflated bytes are checked as UTF-8 for text.
    codec u(role::server);
    u.adopt_extension(extension_for(pmd, "permessage-deflate"));
    std::string bad_utf8;
    {
        codec tx(role::client);
        auto cp = std::make_shared<permessage_deflate>(takeover_settings());
        std::vector<header_field> f;
        std::error_code ec;
        tx.adopt_extension(cp->accept_response(
            one_header(f, "Sec-WebSocket-Extensions", "permessage-deflate"), ec));
        REQUIRE_FALSE(tx.encode_binary("\xc3\x28\xc3\x28\xc3\x28", 6, bad_utf8));
        bad_utf8[0] = static_cast<char>((bad_utf8[0] & 0xF0) | 0x01); // relabel as text
    }
    r = feed(u, bad_utf8);
    CHECK(r.fail_code == 1007);
    CHECK(r.ec == error::invalid_utf8);
}

TEST_CASE("deflate: a zip bomb fails with 1009 and buffers no more than the limit") {
    // 64 MiB of zeros compress to ~64 KB; the limit is 1 MiB.
    auto pmd = std::make_shared<permessage_deflate>(takeover_settings());
    std::string bomb;
    {
        z_stream z{};
        REQUIRE(deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY) == Z_OK);
        std::string zeros(1 << 20, '\0');
        std::string out(1 << 20, '\0');
        for (int i = 0; i < 64; ++i) {
            z.next_in = reinterpret_cast<Bytef*>(&zeros[0]);
            z.avail_in = static_cast<uInt>(zeros.size());
            do {
                z.next_out = reinterpret_cast<Bytef*>(&out[0]);
                z.avail_out = static_cast<uInt>(out.size());
                REQUIRE(deflate(&z, i == 63 ? Z_SYNC_FLUSH : Z_NO_FLUSH) != Z_STREAM_ERROR);
                bomb.append(out.data(), out.size() - z.avail_out);
            } while (z.avail_out == 0);
        }
        deflateEnd(&z);
        REQUIRE(bomb.size() > 4);
        bomb.resize(bomb.size() - 4);
    }
    CHECK(bomb.size() < 100000);
    options o;
    o.max_message_size = 1 << 20;
    for (bool fragmented : {false, true}) {
        CAPTURE(fragmented);
        codec c(role::server, o);
        c.adopt_extension(extension_for(pmd, "permessage-deflate"));
        std::string in;
        if (!fragmented) {
            in = frame(opcode::binary, bomb, true, rsv1, true);
        } else {
            const std::size_t half = bomb.size() / 2;
            in = frame(opcode::binary, bomb.substr(0, half), false, rsv1, true) +
                 frame(opcode::continuation, bomb.substr(half), true, 0, true);
        }
        std::size_t most = 0;
        collected r;
        auto* p = reinterpret_cast<std::uint8_t*>(&in[0]);
        // Fed in 4 KB reads, the reassembly buffer's peak is watched after each.
        for (std::size_t at = 0; at < in.size() && r.fail_code == 0; at += 4096) {
            const std::size_t k = in.size() - at < 4096 ? in.size() - at : 4096;
            c.feed(p + at, k, [&](const event& ev) {
                if (ev.type == event_type::fail) r.fail_code = ev.code;
                if (ev.type == event_type::message) r.messages.emplace_back(ev.op, "");
            });
            if (c.buffered_capacity() > most) most = c.buffered_capacity();
        }
        CHECK(r.fail_code == 1009);
        CHECK(r.messages.empty());
        CHECK(most <= o.max_message_size);
        CHECK(c.buffered_capacity() == 0); // freed on failure
    }
}

TEST_CASE("deflate: no zlib state between messages without context takeover") {
    deflate_settings nct; // the defaults: no context takeover both ways
    nct.min_size = 0;
    nct.pool_size = 0; // nothing kept for reuse either: every byte is the connection's
    pair_of_codecs p(nct, nct);
    auto* sx = static_cast<deflate_extension*>(p.server.get_extension());
    std::string c2s, s2c;
    const std::string t = sample_text(20000, 3);
    REQUIRE_FALSE(p.client.encode_text(t, c2s));
    REQUIRE_FALSE(p.server.encode_text(t, s2c));
    collected r = feed(p.server, c2s);
    REQUIRE(r.messages.size() == 1);
    CHECK(r.messages[0].second == t);
    CHECK(sx->zlib_bytes() == 0);
    CHECK(p.server_pmd->zlib_bytes() == 0);
    CHECK(p.client_pmd->zlib_bytes() == 0);

    // With a pool, streams are reused, never more than pool_size per direction kept.
    deflate_settings pooled = nct;
    pooled.pool_size = 1;
    pair_of_codecs q(pooled, pooled);
    c2s.clear();
    for (int i = 0; i < 5; ++i) REQUIRE_FALSE(q.client.encode_text(t, c2s));
    r = feed(q.server, c2s);
    REQUIRE(r.messages.size() == 5);
    CHECK(static_cast<deflate_extension*>(q.server.get_extension())->zlib_bytes() == 0);
    const std::size_t kept = q.server_pmd->zlib_bytes(); // one inflater, pooled
    CHECK(kept > 0);
    CHECK(kept < 64 * 1024);
    MESSAGE("pooled inflater (15 bits): " << kept << " bytes");

    // With context takeover the state stays: the cost the guide states.
    deflate_settings keep = takeover_settings();
    pair_of_codecs k(keep, keep);
    s2c.clear();
    REQUIRE_FALSE(k.server.encode_text(t, s2c));
    c2s.clear();
    REQUIRE_FALSE(k.client.encode_text(t, c2s));
    r = feed(k.server, c2s);
    REQUIRE(r.messages.size() == 1);
    const std::size_t held = static_cast<deflate_extension*>(k.server.get_extension())->zlib_bytes();
    MESSAGE("idle connection with context takeover, 15 bits, memLevel 8: " << held << " bytes");
    CHECK(held > (std::size_t{1} << 17) + (std::size_t{1} << 15));
    CHECK(held < (std::size_t{1} << 18) + (std::size_t{1} << 15) + 20 * 1024);

    keep.window_bits = 10;
    keep.mem_level = 3;
    pair_of_codecs small(keep, keep);
    s2c.clear();
    REQUIRE_FALSE(small.server.encode_text(t, s2c));
    const std::size_t dsmall =
        static_cast<deflate_extension*>(small.server.get_extension())->zlib_bytes();
    MESSAGE("compressor with context takeover, 10 bits, memLevel 3: " << dsmall << " bytes");
    CHECK(dsmall < 16 * 1024);
}

TEST_CASE("deflate: a message that does not shrink goes out uncompressed without takeover") {
    deflate_settings nct;
    nct.min_size = 0;
    pair_of_codecs p(nct, nct);
    std::string random(4096, '\0');
    unsigned x = 1;
    for (char& ch : random) {
        x = x * 1103515245u + 12345u;
        ch = static_cast<char>(x >> 24);
    }
    std::string out;
    REQUIRE_FALSE(p.server.encode_binary(random.data(), random.size(), out));
    CHECK((static_cast<unsigned char>(out[0]) & 0x40) == 0); // RSV1 clear
    collected r = feed(p.client, out);
    REQUIRE(r.messages.size() == 1);
    CHECK(r.messages[0].second == random);
}

TEST_CASE("deflate: streamed delivery gives one fragment per piece received, not per inflate") {
    // Regression: with reassemble off, every 8 KB the inflater produced became an event of
    // its own, so a handler that paused (or a pulled connection with no reader yet) still
    // received the rest of the piece, and a pulled connection lost it.
    deflate_settings s = takeover_settings();
    pair_of_codecs p(s, s);
    options o;
    o.reassemble = false;
    codec rx(role::server, o);
    std::vector<header_field> f;
    rx.adopt_extension(extension_for(p.server_pmd, "permessage-deflate"));
    const std::string t = sample_text(100000, 9);
    std::string wire;
    REQUIRE_FALSE(p.client.encode_text(t, wire));
    std::vector<std::pair<std::string, bool>> got;
    auto* d = reinterpret_cast<std::uint8_t*>(&wire[0]);
    const std::size_t half = wire.size() / 2;
    for (std::size_t at : {std::size_t{0}, half}) {
        const std::size_t n = at == 0 ? half : wire.size() - half;
        rx.feed(d + at, n, [&](const event& ev) {
            if (ev.type == event_type::fragment) got.emplace_back(std::string(ev.view()), ev.fin);
        });
    }
    REQUIRE(got.size() == 2); // one per read: the second carries the end of the message
    CHECK_FALSE(got[0].second);
    CHECK(got[1].second);
    CHECK(got[0].first + got[1].first == t);
    CHECK(rx.buffered_capacity() == 0);
    // An empty compressed message (RFC 7692 §7.2.3.6's lone 0x00): one empty final fragment.
    got.clear();
    std::string empty = frame(opcode::text, bytes({0x00}), true, rsv1, true);
    rx.feed(reinterpret_cast<std::uint8_t*>(&empty[0]), empty.size(), [&](const event& ev) {
        CHECK(ev.type == event_type::fragment);
        got.emplace_back(std::string(ev.view()), ev.fin);
    });
    REQUIRE(got.size() == 1);
    CHECK(got[0].first.empty());
    CHECK(got[0].second);
}
