// WebSocket echo load generator, deliberately not built on sluice's loop so every server is
// driven by the same neutral client: raw epoll, one thread, C connections, each with one binary
// message of S bytes in flight. Each connection does the HTTP Upgrade first (101 and
// Sec-WebSocket-Accept checked); every client frame is masked with its own key (RFC 6455 §5.3);
// every echoed byte is compared with what was sent. Only the sans-I/O helpers of sluice::ws are
// used (request/response building, frame headers, masking); a bug shared with the sluice server
// would still show up as a failure against the other servers.
//
//   ws_load --port P [--connections 1] [--size 64] [--seconds 5] [--deflate]
// Prints one line: messages/s, MB/s (echoed payload), and the error count.
// Exits 1 if a byte differs, a handshake or connection fails, or nothing was echoed.
//
// --deflate: permessage-deflate (RFC 7692), on zlib itself rather than sluice's extension. The
// offer is `permessage-deflate; client_no_context_takeover; server_no_context_takeover` and the
// 101 must accept exactly that (a server that declines fails the run: a deflate bench that ran
// uncompressed would measure nothing). Messages are text-like words from a fixed seed, so every
// server sees the same bytes; each is compressed with raw DEFLATE (windowBits -15, level 6,
// memLevel 8: sluice's defaults), ahead of time since no context takeover makes every message
// its own stream, then sent as one masked frame with RSV1 and without the 00 00 FF FF tail.
// Every echo must come back compressed (RSV1 on its first frame); it is inflated and compared
// byte for byte. The line then also gives the compressed sizes, sent and echoed, in % of the
// payload.
#include <sluice/ws/frame.hpp>
#include <sluice/ws/handshake.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <zlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace ws = sluice::ws;

namespace {

struct conn {
    int fd = -1;
    unsigned round = 0;
    std::size_t received = 0; // payload bytes of the current message so far
    // Frame parser: the header is gathered byte-exact, then its payload is consumed in place.
    std::uint8_t hdr[ws::max_header_size];
    std::size_t hdr_have = 0;
    bool in_frame = false;
    bool in_message = false; // a data frame without FIN was seen: only continuations may follow
    ws::frame_header fh;
    std::uint64_t frame_left = 0;
    std::uint8_t ctrl[ws::max_control_payload];
    std::size_t ctrl_have = 0;
    std::vector<std::uint8_t> z; // --deflate: the compressed echo so far
};

// Masking keys: RFC 6455 wants them unpredictable to the application. A seeded xorshift is
// unpredictable enough on loopback, and a getrandom() per frame would add a system call to the
// client's side of every 64-byte round trip.
struct key_source {
    std::uint64_t s;
    key_source() {
        std::random_device rd;
        s = (std::uint64_t{rd()} << 32) | rd() | 1;
    }
    void next(std::uint8_t out[4]) {
        std::uint32_t v;
        do {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            v = static_cast<std::uint32_t>(s >> 16);
        } while (v == 0); // an all-zero key would not catch a server that forgot to unmask
        std::memcpy(out, &v, 4);
    }
};

bool send_all(int fd, const std::uint8_t* p, std::size_t n) {
    while (n != 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return false; // blocking socket with SO_SNDTIMEO: only errors end here
        p += k;
        n -= static_cast<std::size_t>(k);
    }
    return true;
}

std::string_view trim(std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    return v;
}

bool iequal(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(a[i])) !=
            std::tolower(static_cast<unsigned char>(b[i])))
            return false;
    return true;
}

// The 101's Sec-WebSocket-Extensions must accept the offer: one field, one element,
// permessage-deflate with server_no_context_takeover (RFC 7692 §7.1.1.1: a server that accepts
// the parameter echoes it); client_no_context_takeover may be echoed; server_max_window_bits
// may lower the server's window (our inflater uses 15, which reads any smaller one);
// client_max_window_bits was not offered, so it must not come back; nothing else may.
bool deflate_accepted(const ws::header_list& h, std::string& why) {
    if (h.count("Sec-WebSocket-Extensions") != 1) {
        why = "the server did not accept permessage-deflate (no Sec-WebSocket-Extensions)";
        return false;
    }
    const std::string_view value = h.get("Sec-WebSocket-Extensions");
    why = "unexpected Sec-WebSocket-Extensions: " + std::string(value);
    if (value.find(',') != std::string_view::npos) return false;
    bool first = true, snct = false;
    for (std::size_t pos = 0; pos <= value.size();) {
        std::size_t semi = value.find(';', pos);
        if (semi == std::string_view::npos) semi = value.size();
        const std::string_view param = trim(value.substr(pos, semi - pos));
        pos = semi + 1;
        if (first) {
            if (!iequal(param, "permessage-deflate")) return false;
            first = false;
        } else if (iequal(param, "server_no_context_takeover")) {
            snct = true;
        } else if (iequal(param, "client_no_context_takeover")) {
        } else if (param.size() > 23 && iequal(param.substr(0, 23), "server_max_window_bits=")) {
            const int bits = std::atoi(std::string(param.substr(23)).c_str());
            if (bits < 8 || bits > 15) return false;
        } else {
            return false;
        }
    }
    if (!snct) return false;
    why.clear();
    return true;
}

// Sends the opening handshake and checks the 101 with the sluice::ws client checks. Any bytes
// after the response head are returned in `rest` (a server may send frames right after it).
bool handshake(int fd, int port, bool deflate, std::string& rest, std::string& why) {
    const std::string host = "127.0.0.1:" + std::to_string(port);
    ws::client_config cfg;
    cfg.host = host;
    cfg.target = "/";
    if (deflate) {
        cfg.extra_headers = "Sec-WebSocket-Extensions: permessage-deflate; "
                            "client_no_context_takeover; server_no_context_takeover\r\n";
        cfg.extensions_offered = true;
    }
    const ws::client_request req = ws::make_client_request(cfg);
    if (!send_all(fd, reinterpret_cast<const std::uint8_t*>(req.request.data()),
                  req.request.size())) {
        why = "sending the upgrade request failed";
        return false;
    }
    std::string in;
    std::size_t end;
    while ((end = in.find("\r\n\r\n")) == std::string::npos) {
        char buf[4096];
        ssize_t k = recv(fd, buf, sizeof buf, 0);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            why = k == 0 ? "closed during the handshake" : "no handshake response";
            return false;
        }
        in.append(buf, static_cast<std::size_t>(k));
        if (in.size() > 16384) {
            why = "handshake response head too long";
            return false;
        }
    }
    std::string_view head(in.data(), end + 2); // keep the last line's CRLF
    const std::size_t eol = head.find("\r\n");
    const std::string_view status_line = head.substr(0, eol);
    ws::response_view res;
    const std::size_t sp = status_line.find(' ');
    res.version = status_line.substr(0, sp);
    if (sp != std::string_view::npos)
        res.status = std::atoi(std::string(status_line.substr(sp + 1, 3)).c_str());
    std::vector<ws::header_field> fields;
    for (std::size_t pos = eol + 2; pos < head.size();) {
        const std::size_t next = head.find("\r\n", pos);
        const std::string_view line = head.substr(pos, next - pos);
        const std::size_t colon = line.find(':');
        if (colon == std::string_view::npos) {
            why = "malformed header line in the handshake response";
            return false;
        }
        fields.push_back({line.substr(0, colon), line.substr(colon + 1)});
        pos = next + 2;
    }
    res.headers = ws::header_list(fields);
    if (std::error_code ec = ws::verify_response(res, req.key, cfg)) {
        why = "handshake rejected (" + ec.message() + "): " + std::string(status_line);
        return false;
    }
    if (deflate && !deflate_accepted(res.headers, why)) return false;
    rest.assign(in, end + 4, std::string::npos);
    return true;
}

} // namespace

int main(int argc, char** argv) {
    int port = 7000, connections = 1;
    std::size_t size = 64;
    double seconds = 5;
    bool deflate = false;
    for (int i = 1; i < argc; i += 2) {
        if (!std::strcmp(argv[i], "--deflate")) {
            deflate = true;
            --i; // takes no value
        } else if (i + 1 >= argc) {
            break;
        } else if (!std::strcmp(argv[i], "--port"))
            port = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--connections"))
            connections = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--size"))
            size = static_cast<std::size_t>(std::atol(argv[i + 1]));
        else if (!std::strcmp(argv[i], "--seconds"))
            seconds = std::atof(argv[i + 1]);
    }
    if (connections < 1) connections = 1;
    // The accept check below trusts sluice's SHA-1 and base64; the RFC 6455 §1.3 example pins
    // them, so a server and this client cannot agree on a wrong value.
    if (ws::compute_accept("dGhlIHNhbXBsZSBub25jZQ==") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") {
        std::fprintf(stderr, "ws_load: Sec-WebSocket-Accept computation is wrong\n");
        return 1;
    }

    // The payload changes every round, and differs between connections, so a server that
    // echoed stale bytes or crossed two connections is caught.
    std::vector<std::uint8_t> pattern(size + 256);
    if (!deflate) {
        for (std::size_t i = 0; i < pattern.size(); ++i)
            pattern[i] = static_cast<std::uint8_t>((i * 131 + 7) & 0xff);
    } else {
        // Text-like and compressible, not trivially: 600 words of 2-10 letters from a fixed
        // seed, drawn with a skew towards the first ones (like word frequencies in prose),
        // with sentence ends and line breaks. zlib level 6 takes 1 KiB of it to about 60%,
        // 16 KiB to about 40%.
        std::uint64_t r = 0x9E3779B97F4A7C15ull;
        auto rnd = [&r]() {
            r ^= r << 13;
            r ^= r >> 7;
            r ^= r << 17;
            return static_cast<std::uint32_t>(r >> 11);
        };
        std::vector<std::string> words(600);
        for (auto& w : words)
            for (std::uint32_t n = 2 + rnd() % 9; n != 0; --n)
                w += static_cast<char>('a' + rnd() % 26);
        std::string text;
        for (unsigned k = 1; text.size() < pattern.size(); ++k) {
            const std::uint32_t a = rnd() % 600, b = rnd() % 600;
            text += words[a < b ? a : b];
            text += k % 61 == 0 ? ".\n" : k % 11 == 0 ? ". " : " ";
        }
        std::memcpy(pattern.data(), text.data(), pattern.size());
    }
    std::vector<conn> conns(static_cast<std::size_t>(connections));
    auto offset = [&](const conn& c) {
        const std::size_t idx = static_cast<std::size_t>(&c - conns.data());
        return (c.round + idx * 7) % 256;
    };
    auto expected = [&](const conn& c) { return pattern.data() + offset(c); };

    // --deflate: every message the connections send, compressed once up front (no context
    // takeover: each message is a DEFLATE stream of its own, the same whenever it is sent),
    // with the 00 00 FF FF of the sync flush cut off (RFC 7692 §7.2.1). The inflater for the
    // echoes is reset for each message, as the server's compressor is.
    std::vector<std::vector<std::uint8_t>> packed;
    z_stream inf{};
    std::vector<std::uint8_t> plain;
    long long sent_wire = 0, echoed_wire = 0;
    if (deflate) {
        z_stream d{};
        if (deflateInit2(&d, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK ||
            inflateInit2(&inf, -15) != Z_OK) {
            std::fprintf(stderr, "ws_load: zlib init failed\n");
            return 1;
        }
        packed.resize(256);
        for (std::size_t off = 0; off < 256; ++off) {
            std::vector<std::uint8_t>& z = packed[off];
            z.resize(deflateBound(&d, static_cast<uLong>(size)) + 16);
            d.next_in = pattern.data() + off;
            d.avail_in = static_cast<uInt>(size);
            d.next_out = z.data();
            d.avail_out = static_cast<uInt>(z.size());
            // `deflate` is the flag in here: zlib's function by its qualified name.
            if (::deflate(&d, Z_SYNC_FLUSH) != Z_OK || d.avail_in != 0 || z.size() - d.avail_out < 4) {
                std::fprintf(stderr, "ws_load: deflate failed\n");
                return 1;
            }
            z.resize(z.size() - d.avail_out);
            if (std::memcmp(z.data() + z.size() - 4, "\x00\x00\xff\xff", 4) != 0) {
                std::fprintf(stderr, "ws_load: deflate output lacks the sync flush tail\n");
                return 1;
            }
            z.resize(z.size() - 4);
            deflateReset(&d);
        }
        deflateEnd(&d);
        plain.resize(size + 1);
    }

    long long messages = 0, bytes = 0, errors = 0;
    auto fail = [&](const conn& c, const char* what) {
        if (errors++ == 0)
            std::fprintf(stderr, "ws_load: connection %zu, round %u: %s\n",
                         static_cast<std::size_t>(&c - conns.data()), c.round, what);
        return false;
    };

    key_source keys;
    std::vector<std::uint8_t> out(ws::max_header_size + size);
    auto send_frame = [&](conn& c, ws::opcode op, const std::uint8_t* payload, std::size_t n,
                          std::uint8_t rsv = 0) {
        ws::frame_header h;
        h.fin = true;
        h.rsv = rsv;
        h.op = op;
        h.masked = true;
        h.length = n;
        keys.next(h.mask);
        if (out.size() < ws::max_header_size + n) out.resize(ws::max_header_size + n);
        const std::size_t len = ws::write_frame(out.data(), h, payload, n);
        return send_all(c.fd, out.data(), len);
    };
    auto send_round = [&](conn& c) {
        c.received = 0;
        if (deflate) {
            c.z.clear();
            const std::vector<std::uint8_t>& z = packed[offset(c)];
            sent_wire += static_cast<long long>(z.size());
            return send_frame(c, ws::opcode::binary, z.data(), z.size(), ws::rsv1) ||
                   fail(c, "send failed");
        }
        return send_frame(c, ws::opcode::binary, expected(c), size) || fail(c, "send failed");
    };

    // A frame is complete: a control frame is acted on, the last frame of a message ends the
    // round and starts the next one.
    auto frame_done = [&](conn& c) {
        c.in_frame = false;
        c.hdr_have = 0;
        switch (c.fh.op) {
        case ws::opcode::ping:
            return send_frame(c, ws::opcode::pong, c.ctrl, c.ctrl_have) || fail(c, "pong failed");
        case ws::opcode::pong:
            return true;
        case ws::opcode::close:
            return fail(c, "server sent a close frame");
        default:
            break;
        }
        if (!c.fh.fin) return true;
        c.in_message = false;
        if (deflate) {
            // The whole compressed message, plus the tail the sender cut off, inflated into
            // one byte more than expected so that a longer message shows.
            echoed_wire += static_cast<long long>(c.z.size());
            c.z.insert(c.z.end(), {0x00, 0x00, 0xff, 0xff});
            inflateReset(&inf);
            inf.next_in = c.z.data();
            inf.avail_in = static_cast<uInt>(c.z.size());
            inf.next_out = plain.data();
            inf.avail_out = static_cast<uInt>(plain.size());
            const int rc = inflate(&inf, Z_SYNC_FLUSH);
            // A sender may end the stream (BFINAL) before the flush; the tail is then left over.
            const bool whole = rc == Z_STREAM_END ? inf.avail_in <= 4
                                                  : (rc == Z_OK || rc == Z_BUF_ERROR) && inf.avail_in == 0;
            if (!whole)
                return fail(c, rc == Z_DATA_ERROR ? "echoed message does not inflate"
                                                  : "echoed message inflates to more than sent");
            c.received = plain.size() - inf.avail_out;
            if (c.received != size) return fail(c, "echoed message has the wrong length");
            if (std::memcmp(plain.data(), expected(c), size) != 0)
                return fail(c, "echoed bytes differ from those sent");
        }
        if (c.received != size) return fail(c, "echoed message has the wrong length");
        ++messages;
        bytes += static_cast<long long>(size);
        ++c.round;
        return send_round(c);
    };

    // Consumes bytes from the server; false on any protocol error or mismatch.
    auto on_bytes = [&](conn& c, const std::uint8_t* p, std::size_t n) {
        while (n != 0) {
            if (!c.in_frame) {
                // Two bytes tell the header's full length; gather exactly that many.
                std::size_t need = c.hdr_have < 2 ? 2 : ws::header_size_from_byte1(c.hdr[1]);
                std::size_t take = need - c.hdr_have < n ? need - c.hdr_have : n;
                std::memcpy(c.hdr + c.hdr_have, p, take);
                c.hdr_have += take;
                p += take;
                n -= take;
                if (c.hdr_have < 2) continue;
                if (ws::check_header_prefix(c.hdr[0], c.hdr[1], ws::role::client,
                                            deflate ? ws::rsv1 : 0) != ws::error{})
                    return fail(c, "bad frame header from server (RSV, opcode, mask or control)");
                if (c.hdr_have < ws::header_size_from_byte1(c.hdr[1])) continue;
                std::size_t hlen = 0;
                ws::error err{};
                if (ws::parse_header(c.hdr, c.hdr_have, c.fh, hlen, err) !=
                    ws::parse_status::complete)
                    return fail(c, "malformed frame header from server");
                if (!ws::is_control(c.fh.op)) {
                    if (c.fh.op == ws::opcode::continuation ? !c.in_message : c.in_message)
                        return fail(c, "bad fragmentation from server");
                    if (c.fh.op == ws::opcode::text)
                        return fail(c, "binary message echoed as text");
                    if (!deflate && c.fh.length > size - c.received)
                        return fail(c, "echoed message is longer than the one sent");
                    if (deflate) {
                        // RSV1 marks a compressed message on its first frame, and only there
                        // (RFC 7692 §6.1); these messages shrink, so each must come compressed.
                        const bool rsv1 = (c.fh.rsv & ws::rsv1) != 0;
                        if (c.fh.op != ws::opcode::continuation && !rsv1)
                            return fail(c, "echoed message is not compressed (RSV1 clear)");
                        if (c.fh.op == ws::opcode::continuation && rsv1)
                            return fail(c, "RSV1 on a continuation frame");
                        // Raw DEFLATE of `size` bytes is never much longer than them.
                        if (c.fh.length > size + size / 8 + 1024 - c.z.size())
                            return fail(c, "compressed echo is longer than any DEFLATE of it");
                    }
                    c.in_message = !c.fh.fin;
                } else if (c.fh.rsv != 0) {
                    return fail(c, "RSV1 on a control frame");
                }
                c.in_frame = true;
                c.frame_left = c.fh.length;
                c.ctrl_have = 0;
                if (c.frame_left == 0 && !frame_done(c)) return false;
                continue;
            }
            const std::size_t take = c.frame_left < n ? static_cast<std::size_t>(c.frame_left) : n;
            if (ws::is_control(c.fh.op)) {
                std::memcpy(c.ctrl + c.ctrl_have, p, take);
                c.ctrl_have += take;
            } else if (deflate) {
                c.z.insert(c.z.end(), p, p + take);
            } else {
                if (std::memcmp(p, expected(c) + c.received, take) != 0)
                    return fail(c, "echoed bytes differ from those sent");
                c.received += take;
            }
            p += take;
            n -= take;
            c.frame_left -= take;
            if (c.frame_left == 0 && !frame_done(c)) return false;
        }
        return true;
    };

    int ep = epoll_create1(EPOLL_CLOEXEC);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(port));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::vector<std::string> early(conns.size());
    for (std::size_t i = 0; i < conns.size(); ++i) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
            std::perror("ws_load: connect");
            return 1;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        // Blocking I/O with a time limit: a server that stops reading fails the run instead
        // of hanging it.
        timeval tv{5, 0};
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        conns[i].fd = fd;
        std::string why;
        if (!handshake(fd, port, deflate, early[i], why)) {
            std::fprintf(stderr, "ws_load: connection %zu: %s\n", i, why.c_str());
            return 1;
        }
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = i;
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }

    auto start = std::chrono::steady_clock::now();
    auto deadline = start + std::chrono::duration<double>(seconds);
    for (std::size_t i = 0; i < conns.size() && errors == 0; ++i) {
        if (!send_round(conns[i])) break;
        if (!early[i].empty())
            on_bytes(conns[i], reinterpret_cast<const std::uint8_t*>(early[i].data()),
                     early[i].size());
    }
    std::vector<std::uint8_t> buf(1 << 16);
    epoll_event evs[256];
    while (errors == 0 && std::chrono::steady_clock::now() < deadline) {
        int n = epoll_wait(ep, evs, 256, 100);
        for (int k = 0; k < n && errors == 0; ++k) {
            conn& c = conns[evs[k].data.u64];
            ssize_t r = recv(c.fd, buf.data(), buf.size(), MSG_DONTWAIT);
            if (r <= 0) {
                if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
                fail(c, r == 0 ? "server closed the connection" : "recv failed");
                break;
            }
            on_bytes(c, buf.data(), static_cast<std::size_t>(r));
        }
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("messages/s %.0f MB/s %.2f errors %lld connections %d size %zu",
                static_cast<double>(messages) / secs, static_cast<double>(bytes) / secs / 1e6,
                errors, connections, size);
    if (deflate && messages > 0)
        std::printf(" deflate sent%% %.1f echoed%% %.1f",
                    100.0 * static_cast<double>(sent_wire) / static_cast<double>(size) /
                        static_cast<double>(messages + static_cast<long long>(conns.size())),
                    100.0 * static_cast<double>(echoed_wire) / static_cast<double>(bytes));
    std::printf("\n");
    if (deflate) inflateEnd(&inf);
    // A close frame (1000) so servers see an orderly end; best effort, the run is over.
    for (auto& c : conns) {
        std::uint8_t frame[ws::max_header_size + 2];
        const std::uint8_t code[2] = {0x03, 0xE8};
        ws::frame_header h;
        h.op = ws::opcode::close;
        h.masked = true;
        h.length = 2;
        keys.next(h.mask);
        const std::size_t len = ws::write_frame(frame, h, code, 2);
        send(c.fd, frame, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        close(c.fd);
    }
    return errors == 0 && messages > 0 ? 0 : 1;
}
