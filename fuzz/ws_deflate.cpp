// libFuzzer target for permessage-deflate's inflate path (link -lz).
//
// The first input byte picks context takeover, the peer's window bits, a size limit, how
// the rest is split into frames and whether messages are reassembled or streamed; the rest is compressed payload, sent as RSV1 frames (the
// first with RSV1, continuations without) into a server codec whose deflate extension was
// negotiated through the real handshake functions. Checked invariants: no out-of-bounds
// access or leak (sanitizers); a failure closes with 1007 (bad data), 1009 (over the limit)
// or 1002, never anything else; no message is longer than the limit; the reassembly buffer
// never exceeds the limit. Then the round trip: the same bytes compressed by a client codec
// and inflated by the server come back unchanged.
#include <sluice/ws.hpp>
#include <sluice/ws/deflate.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace {
using namespace sluice::ws;

void check(bool ok) {
    if (!ok) std::abort();
}

std::string frame(opcode op, const std::uint8_t* p, std::size_t n, bool fin, std::uint8_t rsv) {
    frame_header h;
    h.fin = fin;
    h.op = op;
    h.rsv = rsv;
    h.length = n;
    h.masked = true;
    std::string out(header_size(n, true) + n, '\0');
    write_frame(reinterpret_cast<std::uint8_t*>(&out[0]), h, p, n);
    return out;
}

struct endpoint_pair {
    std::unique_ptr<extension> server_ext, client_ext;
    endpoint_pair(const deflate_settings& s) {
        auto spmd = std::make_shared<permessage_deflate>(s);
        auto cpmd = std::make_shared<permessage_deflate>(s);
        std::string offer, resp;
        cpmd->make_offer(offer);
        header_field f[1] = {{"Sec-WebSocket-Extensions", offer}};
        server_ext = spmd->accept_offer(header_list(f), resp);
        check(server_ext != nullptr);
        f[0].value = resp;
        std::error_code ec;
        client_ext = cpmd->accept_response(header_list(f), ec);
        check(!ec && client_ext != nullptr);
    }
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::uint8_t mode = data[0];
    ++data;
    --size;
    deflate_settings s;
    s.min_size = 0;
    s.no_context_takeover = s.peer_no_context_takeover = (mode & 1) != 0;
    s.peer_window_bits = 8 + ((mode >> 1) & 7); // 8..15
    s.window_bits = s.peer_window_bits;
    options o;
    o.max_message_size = (mode & 0x10) ? 1000 : std::uint64_t{1} << 20;
    const std::size_t pieces = 1 + ((mode >> 5) & 3); // frames per message
    o.reassemble = (mode & 0x80) == 0;

    // 1. Random bytes as compressed payload, twice (the second message meets the state the
    // first one left, with context takeover).
    {
        endpoint_pair ep(s);
        codec server(role::server, o);
        server.adopt_extension(std::move(ep.server_ext));
        std::string wire;
        for (int m = 0; m < 2; ++m) {
            const std::size_t step = size / pieces + 1;
            std::size_t at = 0;
            for (std::size_t k = 0; k < pieces; ++k) {
                const std::size_t n = at >= size ? 0 : (size - at < step ? size - at : step);
                wire += frame(k == 0 ? opcode::binary : opcode::continuation, data + at, n,
                              k + 1 == pieces, k == 0 ? rsv1 : 0);
                at += n;
            }
        }
        bool failed = false;
        std::uint64_t streamed = 0; // bytes of the current message delivered in fragments
        server.feed(reinterpret_cast<std::uint8_t*>(&wire[0]), wire.size(), [&](const event& ev) {
            check(!failed || ev.type == event_type::send || ev.type == event_type::disconnect);
            if (ev.type == event_type::message) check(ev.size <= o.max_message_size);
            if (ev.type == event_type::fragment) {
                streamed += ev.size;
                check(streamed <= o.max_message_size);
                if (ev.fin) streamed = 0;
            }
            if (ev.type == event_type::fail) {
                failed = true;
                check(ev.code == 1007 || ev.code == 1009 || ev.code == 1002);
            }
            check(server.buffered_capacity() <= o.max_message_size);
        });
    }

    // 2. Round trip of the same bytes through a client's compressor and the server.
    {
        endpoint_pair ep(s);
        options big;
        big.max_message_size = std::uint64_t{1} << 20;
        codec server(role::server, big), client(role::client, big);
        server.adopt_extension(std::move(ep.server_ext));
        client.adopt_extension(std::move(ep.client_ext));
        std::string wire;
        for (int m = 0; m < 3; ++m) check(!client.encode_binary(data, size, wire));
        int got = 0;
        server.feed(reinterpret_cast<std::uint8_t*>(&wire[0]), wire.size(), [&](const event& ev) {
            check(ev.type == event_type::message);
            check(ev.size == size && (size == 0 || std::memcmp(ev.data, data, size) == 0));
            ++got;
        });
        check(got == 3);
    }
    return 0;
}
