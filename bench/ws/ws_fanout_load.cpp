// WebSocket fan-out load generator (bench/ws/run.sh, "Publish to N subscribers"), like
// ws_load.cpp not built on sluice's loop: raw epoll, one thread. It opens N subscriber
// connections to /sub (HTTP Upgrade, 101 and Sec-WebSocket-Accept checked) and waits until
// each has received the server's text message "subscribed"; then one publisher connection
// to /pub sends binary messages of S bytes (masked, a fresh key each), at most W in flight:
// message k is done when all N subscribers have received it whole, and message k + W is
// not sent before. Each message carries its sequence number (8 bytes, little endian)
// followed by bytes that depend on it, and every subscriber must receive every message, in
// order, byte for byte. After T seconds no new message is sent and the ones in flight are
// waited for.
//
// With --server-pid, the server's CPU time (utime + stime from /proc/PID/stat) is read when
// the first message is sent and when the last one is done, so connecting and subscribing
// are not counted.
//
//   ws_fanout_load --port P [--subscribers 10000] [--size 64] [--window 4] [--seconds 5]
//                  [--server-pid PID]
// Prints one line: publishes/s, deliveries/s (publishes x N), server CPU per delivery (µs),
// and the counts they come from. Exits 1 if any byte differs, a subscriber misses or
// reorders a message, a connection fails or is closed by the server (e.g. cut at a send
// limit), progress stalls for 10 s, or nothing was published.
#include <sluice/ws/frame.hpp>
#include <sluice/ws/handshake.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

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
using clock_type = std::chrono::steady_clock;

namespace {

constexpr std::string_view ack = "subscribed";

struct conn {
    int fd = -1;
    bool subscribed = false;     // "subscribed" arrived: published messages may follow
    std::uint64_t next_seq = 0;  // the message this subscriber expects next
    std::size_t received = 0;    // payload bytes of the current message so far
    ws::opcode msg_op = ws::opcode::binary;
    std::uint8_t hdr[ws::max_header_size];
    std::size_t hdr_have = 0;
    bool in_frame = false;
    bool in_message = false;
    ws::frame_header fh;
    std::uint64_t frame_left = 0;
    std::uint8_t ctrl[ws::max_control_payload];
    std::size_t ctrl_have = 0;
    char text[ack.size()];
};

// Masking keys: see ws_load.cpp (a seeded xorshift, never an all-zero key).
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
        } while (v == 0);
        std::memcpy(out, &v, 4);
    }
};

bool send_all(int fd, const std::uint8_t* p, std::size_t n) {
    while (n != 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return false;
        p += k;
        n -= static_cast<std::size_t>(k);
    }
    return true;
}

// The opening handshake, checked with the sluice::ws client checks (as in ws_load.cpp, with
// a target). Bytes after the response head are returned in `rest`.
bool handshake(int fd, int port, const char* target, std::string& rest, std::string& why) {
    const std::string host = "127.0.0.1:" + std::to_string(port);
    ws::client_config cfg;
    cfg.host = host;
    cfg.target = target;
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
    std::string_view head(in.data(), end + 2);
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
    rest.assign(in, end + 4, std::string::npos);
    return true;
}

// utime + stime of a process, in seconds; negative when unreadable.
double cpu_seconds(long pid) {
    if (pid <= 0) return -1;
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE* f = std::fopen(path, "r");
    if (!f) return -1;
    char buf[1024];
    const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    buf[n] = 0;
    const char* p = std::strrchr(buf, ')'); // the command name may hold spaces
    if (!p) return -1;
    unsigned long long utime = 0, stime = 0;
    // After ") ": state, ppid, pgrp, session, tty_nr, tpgid, flags, minflt, cminflt,
    // majflt, cmajflt, utime, stime.
    if (std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
                    &stime) != 2)
        return -1;
    return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

} // namespace

int main(int argc, char** argv) {
    int port = 7000, subscribers = 10000, window = 4;
    long server_pid = 0;
    std::size_t size = 64;
    double seconds = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--port"))
            port = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--subscribers"))
            subscribers = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--size"))
            size = static_cast<std::size_t>(std::atol(argv[i + 1]));
        else if (!std::strcmp(argv[i], "--window"))
            window = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--seconds"))
            seconds = std::atof(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--server-pid"))
            server_pid = std::atol(argv[i + 1]);
        else {
            std::fprintf(stderr, "ws_fanout_load: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (subscribers < 1 || window < 1 || size < 8) {
        std::fprintf(stderr, "ws_fanout_load: needs --subscribers >= 1, --window >= 1, --size >= 8\n");
        return 2;
    }
    if (ws::compute_accept("dGhlIHNhbXBsZSBub25jZQ==") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") {
        std::fprintf(stderr, "ws_fanout_load: Sec-WebSocket-Accept computation is wrong\n");
        return 1;
    }
    // N subscribers and the publisher, plus stdio and epoll: raise the soft limit.
    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);
    const rlim_t need = static_cast<rlim_t>(subscribers) + 16;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need ? need : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur < need) {
            std::fprintf(stderr, "ws_fanout_load: %d subscribers need %llu descriptors, the limit is %llu\n",
                         subscribers, static_cast<unsigned long long>(need),
                         static_cast<unsigned long long>(rl.rlim_cur));
            return 1;
        }
    }

    // Message seq: its 8-byte little-endian number, then pattern[seq % 256 + i] for i >= 8.
    std::vector<std::uint8_t> pattern(size + 256);
    for (std::size_t i = 0; i < pattern.size(); ++i)
        pattern[i] = static_cast<std::uint8_t>((i * 131 + 7) & 0xff);
    const std::size_t n_subs = static_cast<std::size_t>(subscribers);
    std::vector<conn> conns(n_subs + 1); // the last one is the publisher
    const std::size_t pub = n_subs;

    long long errors = 0;
    auto fail = [&](const conn& c, const char* what) {
        if (errors++ == 0) {
            const std::size_t idx = static_cast<std::size_t>(&c - conns.data());
            if (idx == pub)
                std::fprintf(stderr, "ws_fanout_load: publisher: %s\n", what);
            else
                std::fprintf(stderr, "ws_fanout_load: subscriber %zu, message %llu: %s\n", idx,
                             static_cast<unsigned long long>(c.next_seq), what);
        }
        return false;
    };

    key_source keys;
    std::vector<std::uint8_t> out(ws::max_header_size + size);
    std::vector<std::uint8_t> payload(size);
    auto send_frame = [&](conn& c, ws::opcode op, const std::uint8_t* p, std::size_t n) {
        ws::frame_header h;
        h.fin = true;
        h.op = op;
        h.masked = true;
        h.length = n;
        keys.next(h.mask);
        const std::size_t len = ws::write_frame(out.data(), h, p, n);
        return send_all(c.fd, out.data(), len);
    };

    // In flight: done[k % window] counts the subscribers that have message k whole.
    std::uint64_t sent = 0, done = 0;
    std::vector<std::size_t> have(static_cast<std::size_t>(window), 0);
    bool publishing = false;
    clock_type::time_point deadline{}, last_done{}, last_progress = clock_type::now();
    std::size_t n_subscribed = 0;

    auto publish_next = [&]() {
        const std::uint64_t seq = sent;
        for (int b = 0; b < 8; ++b) payload[static_cast<std::size_t>(b)] = static_cast<std::uint8_t>(seq >> (8 * b));
        std::memcpy(payload.data() + 8, pattern.data() + seq % 256 + 8, size - 8);
        if (!send_frame(conns[pub], ws::opcode::binary, payload.data(), size))
            return fail(conns[pub], "send failed");
        ++sent;
        return true;
    };
    auto fill_window = [&]() {
        while (publishing && sent - done < static_cast<std::uint64_t>(window) &&
               clock_type::now() < deadline)
            if (!publish_next()) return false;
        return true;
    };

    // Payload bytes [pos, pos + n) of the message c expects, compared with p.
    auto payload_matches = [&](const conn& c, std::size_t pos, const std::uint8_t* p, std::size_t n) {
        const std::uint64_t seq = c.next_seq;
        for (; n != 0 && pos < 8; ++pos, ++p, --n)
            if (*p != static_cast<std::uint8_t>(seq >> (8 * pos))) return false;
        return n == 0 || std::memcmp(p, pattern.data() + seq % 256 + pos, n) == 0;
    };

    // A whole message arrived on subscriber c.
    auto message_done = [&](conn& c) {
        if (!c.subscribed) {
            if (c.msg_op != ws::opcode::text || c.received != ack.size() ||
                std::memcmp(c.text, ack.data(), ack.size()) != 0)
                return fail(c, "the first message is not the text \"subscribed\"");
            c.subscribed = true;
            ++n_subscribed;
            last_progress = clock_type::now();
            return true;
        }
        if (c.received != size) return fail(c, "published message has the wrong length");
        if (c.next_seq >= sent) return fail(c, "a message that was never published");
        std::size_t& h = have[c.next_seq % static_cast<std::uint64_t>(window)];
        ++c.next_seq;
        if (++h == n_subs) {
            // Subscribers receive in order, so the oldest message in flight completes first.
            if (c.next_seq - 1 != done) return fail(c, "messages completed out of order");
            h = 0;
            ++done;
            last_done = last_progress = clock_type::now();
            return fill_window();
        }
        return true;
    };

    auto frame_done = [&](conn& c) {
        c.in_frame = false;
        c.hdr_have = 0;
        switch (c.fh.op) {
        case ws::opcode::ping:
            return send_frame(c, ws::opcode::pong, c.ctrl, c.ctrl_have) || fail(c, "pong failed");
        case ws::opcode::pong:
            return true;
        case ws::opcode::close:
            if (c.ctrl_have >= 2) {
                char why[64];
                std::snprintf(why, sizeof why, "server sent a close frame (%u)",
                              unsigned(c.ctrl[0]) << 8 | c.ctrl[1]);
                return fail(c, why);
            }
            return fail(c, "server sent a close frame");
        default:
            break;
        }
        if (!c.fh.fin) return true;
        c.in_message = false;
        const bool ok = message_done(c);
        c.received = 0;
        return ok;
    };

    auto on_bytes = [&](conn& c, const std::uint8_t* p, std::size_t n) {
        const bool is_pub = &c == &conns[pub];
        while (n != 0) {
            if (!c.in_frame) {
                std::size_t need = c.hdr_have < 2 ? 2 : ws::header_size_from_byte1(c.hdr[1]);
                std::size_t take = need - c.hdr_have < n ? need - c.hdr_have : n;
                std::memcpy(c.hdr + c.hdr_have, p, take);
                c.hdr_have += take;
                p += take;
                n -= take;
                if (c.hdr_have < 2) continue;
                if (ws::check_header_prefix(c.hdr[0], c.hdr[1], ws::role::client, 0) != ws::error{})
                    return fail(c, "bad frame header from server (RSV, opcode, mask or control)");
                if (c.hdr_have < ws::header_size_from_byte1(c.hdr[1])) continue;
                std::size_t hlen = 0;
                ws::error err{};
                if (ws::parse_header(c.hdr, c.hdr_have, c.fh, hlen, err) != ws::parse_status::complete)
                    return fail(c, "malformed frame header from server");
                if (!ws::is_control(c.fh.op)) {
                    if (is_pub) return fail(c, "the publisher received a data message");
                    if (c.fh.op == ws::opcode::continuation ? !c.in_message : c.in_message)
                        return fail(c, "bad fragmentation from server");
                    if (c.fh.op != ws::opcode::continuation) c.msg_op = c.fh.op;
                    if (!c.subscribed ? c.msg_op != ws::opcode::text : c.msg_op != ws::opcode::binary)
                        return fail(c, !c.subscribed ? "expected the text \"subscribed\" first"
                                                     : "a published binary message arrived as text");
                    const std::size_t limit = c.subscribed ? size : ack.size();
                    if (c.fh.length > limit - c.received)
                        return fail(c, "message longer than the one published");
                    c.in_message = !c.fh.fin;
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
            } else if (!c.subscribed) {
                std::memcpy(c.text + c.received, p, take);
                c.received += take;
            } else {
                if (!payload_matches(c, c.received, p, take))
                    return fail(c, "received bytes differ from those published");
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
        if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
            std::fprintf(stderr, "ws_fanout_load: connection %zu: %s\n", i, std::strerror(errno));
            return 1;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        timeval tv{5, 0}; // blocking sends and the handshake fail instead of hanging
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        conns[i].fd = fd;
        std::string why;
        if (!handshake(fd, port, i == pub ? "/pub" : "/sub", early[i], why)) {
            std::fprintf(stderr, "ws_fanout_load: connection %zu: %s\n", i, why.c_str());
            return 1;
        }
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = i;
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    conns[pub].subscribed = true; // it expects no "subscribed"; any data message fails it
    for (std::size_t i = 0; i < conns.size() && errors == 0; ++i)
        if (!early[i].empty())
            on_bytes(conns[i], reinterpret_cast<const std::uint8_t*>(early[i].data()), early[i].size());

    double cpu0 = -1, cpu1 = -1;
    clock_type::time_point start{};
    std::vector<std::uint8_t> buf(1 << 16);
    std::vector<epoll_event> evs(1024);
    const auto stall = std::chrono::seconds(10);
    last_progress = clock_type::now();
    while (errors == 0) {
        if (!publishing && n_subscribed == n_subs) {
            publishing = true;
            cpu0 = cpu_seconds(server_pid);
            start = clock_type::now();
            deadline = start + std::chrono::duration_cast<clock_type::duration>(
                                   std::chrono::duration<double>(seconds));
            last_progress = start;
            if (!fill_window()) break;
        }
        if (publishing && done == sent && clock_type::now() >= deadline) break;
        if (clock_type::now() - last_progress > stall) {
            if (!publishing)
                std::fprintf(stderr, "ws_fanout_load: %zu of %zu subscribers acknowledged in 10 s\n",
                             n_subscribed, n_subs);
            else
                std::fprintf(stderr, "ws_fanout_load: stalled: message %llu reached %zu of %zu subscribers in 10 s\n",
                             static_cast<unsigned long long>(done),
                             have[done % static_cast<std::uint64_t>(window)], n_subs);
            ++errors;
            break;
        }
        int n = epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), 100);
        for (int k = 0; k < n && errors == 0; ++k) {
            conn& c = conns[evs[static_cast<std::size_t>(k)].data.u64];
            ssize_t r = recv(c.fd, buf.data(), buf.size(), MSG_DONTWAIT);
            if (r <= 0) {
                if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
                fail(c, r == 0 ? "server closed the connection" : "recv failed");
                break;
            }
            on_bytes(c, buf.data(), static_cast<std::size_t>(r));
        }
    }
    if (publishing) cpu1 = cpu_seconds(server_pid);
    if (errors == 0)
        for (std::size_t i = 0; i < n_subs; ++i)
            if (conns[i].next_seq != sent || conns[i].in_message) {
                fail(conns[i], "a subscriber did not receive every message");
                break;
            }

    const double secs = publishing && done != 0
                            ? std::chrono::duration<double>(last_done - start).count()
                            : 0;
    const double pubs = secs > 0 ? static_cast<double>(done) / secs : 0;
    const double deliveries = static_cast<double>(done) * static_cast<double>(n_subs);
    const double cpu = cpu0 >= 0 && cpu1 >= 0 ? cpu1 - cpu0 : -1;
    std::printf("publishes/s %.1f deliveries/s %.0f server_us/delivery %.3f errors %lld "
                "subscribers %zu size %zu window %d messages %llu seconds %.3f server_cpu_s %.2f\n",
                pubs, secs > 0 ? deliveries / secs : 0,
                cpu >= 0 && deliveries > 0 ? cpu * 1e6 / deliveries : -1, errors, n_subs, size,
                window, static_cast<unsigned long long>(done), secs, cpu);
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
    return errors == 0 && done > 0 ? 0 : 1;
}
