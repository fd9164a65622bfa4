// libFuzzer target for the WebSocket frame parser and codec.
//
// The first input byte picks the role, delivery mode, a size limit and how the rest is chopped
// into feeds; the rest is wire bytes. Checked invariants: feed never reads out of bounds or
// leaks (sanitizers), every event is well-formed, a failure sends a close frame with the code
// close_code_for() gives, nothing is reported after the connection ends, the codec's buffers
// never hold more than twice the bytes fed (whatever lengths the headers declare), and
// chopping the input differently yields the same event sequence.
#include <sluice/ws.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

namespace {
using namespace sluice::ws;

struct zero_rng {
    void operator()(std::uint8_t* out, std::size_t n) {
        for (std::size_t i = 0; i < n; ++i) out[i] = 0;
    }
};

void check(bool ok) {
    if (!ok) std::abort();
}

std::string run(const std::uint8_t* data, std::size_t n, std::uint8_t mode, std::size_t chop) {
    zero_rng rng;
    options o;
    o.reassemble = (mode & 2) == 0;
    o.max_message_size = (mode & 4) ? 300 : std::uint64_t{1} << 20;
    o.rng = random_source::from(rng);
    const role r = (mode & 1) ? role::client : role::server;
    codec c(r, o);
    std::string trace;
    bool ended = false;
    std::string partial;
    auto h = [&](const event& e) {
        check(!ended);
        check(e.size == 0 || e.data != nullptr);
        switch (e.type) {
        case event_type::message:
            check(e.op == opcode::text || e.op == opcode::binary);
            if (e.op == opcode::text) check(sluice::util::is_valid_utf8(e.data, e.size));
            check(e.size <= o.max_message_size);
            trace += "M" + std::to_string(e.size) + ";";
            break;
        case event_type::fragment:
            partial.append(reinterpret_cast<const char*>(e.data), e.size);
            check(partial.size() <= o.max_message_size);
            if (e.fin) {
                if (e.op == opcode::text) check(sluice::util::is_valid_utf8(partial));
                trace += "M" + std::to_string(partial.size()) + ";";
                partial.clear();
            }
            break;
        case event_type::ping:
        case event_type::pong:
            check(e.size <= 125);
            trace += (e.type == event_type::ping ? "I" : "O") + std::string(e.view()) + ";";
            break;
        case event_type::close:
            check(e.code == close_code::no_status || is_valid_close_code(e.code));
            trace += "C" + std::to_string(e.code) + ";";
            break;
        case event_type::send: {
            check(e.size >= 2 && e.size <= max_header_size + 125);
            frame_header fh;
            std::size_t hl = 0;
            error err{};
            check(parse_header(e.data, e.size, fh, hl, err) == parse_status::complete);
            check(hl + fh.length == e.size);
            check(fh.masked == (r == role::client));
            trace += "S" + std::to_string(e.size) + ";";
            break;
        }
        case event_type::fail:
            check(static_cast<bool>(e.ec));
            check(e.code == close_code_for(static_cast<error>(e.ec.value())));
            check(e.code == 1002 || e.code == 1007 || e.code == 1009);
            trace += "F" + std::to_string(e.code) + ";";
            break;
        case event_type::disconnect:
            ended = true;
            trace += "D;";
            break;
        }
    };
    std::size_t off = 0;
    while (off < n) {
        std::size_t k = chop == 0 ? n - off : chop;
        if (k > n - off) k = n - off;
        std::vector<std::uint8_t> buf(data + off, data + off + k); // exact-size heap copy for ASan
        c.feed(buf.data(), buf.size(), h);
        off += k;
        // Buffers grow with what arrived, never with a declared frame length.
        check(c.footprint() <= 2 * off + max_control_payload);
    }
    // Once the connection has ended, no reassembly buffer may be left behind.
    if (c.closed()) check(c.buffered_capacity() == 0);
    return trace;
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::uint8_t mode = data[0];
    const std::uint8_t* p = data + 1;
    const std::size_t n = size - 1;
    const std::string whole = run(p, n, mode, 0);
    const std::size_t chop = 1 + (mode >> 3); // 1..32
    check(run(p, n, mode, chop) == whole);
    if (n <= 256) check(run(p, n, mode, 1) == whole);
    return 0;
}
