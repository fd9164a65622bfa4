// A fixed-rate UDP game server and a client that simulates many players.
//
// The server owns its frame loop, as a game does: every tick it calls loop.poll()
// once (never blocking; it receives whatever inputs arrived), steps the simulation,
// sends every player a state snapshot, then sleeps until the next tick's deadline.
// Deadlines are start + n * period, so lateness never accumulates into drift. It
// measures each tick's lateness (actual start - scheduled start) and reports it.
//
//   game_tick server --port P [--hz 60] [--seconds S] [--report-every S] [--spin-us 200]
//   game_tick client --port P [--host 127.0.0.1] --players N [--seconds S] [--hz 30]
//
// Both end with one key=value line a test can read. The client's players each have
// their own UDP socket and send an input every 1/hz s; each checks the snapshots it
// receives (tick numbers only move forward; a snapshot names its own player) and times
// the gaps between them.
//
// Wire format, little-endian:
//   input     'I' u32 player u32 seq i8 dx i8 dy
//   snapshot  'S' u32 tick u16 count, then count x (u32 player i32 x i32 y u32 last_seq);
//             at most snapshot_players entries per datagram, so a snapshot of many
//             players is several datagrams that share the tick number.
#include <sluice.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

using clock_type = std::chrono::steady_clock;
using std::chrono::microseconds;

namespace wire {
constexpr std::size_t input_size = 1 + 4 + 4 + 1 + 1;
constexpr std::size_t entry_size = 16;
// 80 entries + header = 1,287 bytes: under a 1,500-byte Ethernet MTU, so no IP
// fragmentation (a lost fragment would lose the whole datagram).
constexpr std::size_t snapshot_players = 80;

inline void put32(std::string& out, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
inline std::uint32_t get32(const char* p) {
    std::uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
    return v;
}
} // namespace wire

static volatile std::sig_atomic_t stop_requested = 0;

static bool parse_number(const char* text, long long min, long long max, long long& out) {
    char* end = nullptr;
    long long v = std::strtoll(text, &end, 10);
    if (!*text || *end || v < min || v > max) return false;
    out = v;
    return true;
}

static long long percentile(std::vector<long long> v, double p) {
    if (v.empty()) return 0;
    std::size_t k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
    return v[k];
}

// ---------------------------------------------------------------- server

struct player {
    sluice::endpoint address;
    std::int32_t x = 0, y = 0;
    std::int32_t vx = 0, vy = 0;
    std::uint32_t last_seq = 0;
    clock_type::time_point last_heard;
};

struct server_stats {
    long long ticks = 0, late_1ms = 0, late_half_period = 0, missed = 0, overruns = 0;
    long long inputs = 0, bad_inputs = 0, snapshots = 0, bytes_out = 0, dropped_players = 0;
    std::size_t max_players = 0;
    std::vector<long long> lateness_us, work_us;
};

// How much later the last tenth of the ticks started than the first tenth (medians): about
// zero for a loop that keeps to its deadlines however loaded the machine, and growing
// with the run for one that schedules each tick from the previous one's end.
static long long drift_us(const std::vector<long long>& lateness) {
    const std::size_t tenth = lateness.size() / 10;
    if (tenth == 0) return 0;
    auto first = static_cast<std::ptrdiff_t>(tenth);
    std::vector<long long> head(lateness.begin(), lateness.begin() + first);
    std::vector<long long> tail(lateness.end() - first, lateness.end());
    return percentile(tail, 0.5) - percentile(head, 0.5);
}

static void print_server_report(const server_stats& s, const char* prefix) {
    std::printf(
        "%sticks=%lld late1ms=%lld late_half=%lld missed=%lld overruns=%lld "
        "p50_us=%lld p99_us=%lld max_us=%lld drift_us=%lld work_p99_us=%lld inputs=%lld "
        "bad_inputs=%lld players=%zu dropped=%lld snapshots=%lld bytes_out=%lld\n",
        prefix, s.ticks, s.late_1ms, s.late_half_period, s.missed, s.overruns,
        percentile(s.lateness_us, 0.50), percentile(s.lateness_us, 0.99),
        s.lateness_us.empty() ? 0 : *std::max_element(s.lateness_us.begin(), s.lateness_us.end()),
        drift_us(s.lateness_us), percentile(s.work_us, 0.99), s.inputs, s.bad_inputs, s.max_players,
        s.dropped_players, s.snapshots, s.bytes_out);
    std::fflush(stdout);
}

static int run_server(std::uint16_t port, long long hz, long long seconds, long long report_every,
                      long long spin_us) {
    sluice::loop loop;
    sluice::udp_socket socket(loop);
    if (auto ec = socket.bind(sluice::endpoint::any_v4(port))) {
        std::fprintf(stderr, "game_tick: bind port %u: %s\n", port, ec.message().c_str());
        return 1;
    }
    // A burst of snapshots may outrun the kernel buffer; keep a bounded queue for it.
    socket.set_queue_cap(4u << 20);
    std::unordered_map<std::uint32_t, player> players;
    server_stats stats;
    const auto now_at_start = clock_type::now();

    socket.recv_each([&](std::error_code ec, std::string_view data, const sluice::endpoint& from) {
        if (ec) return;
        if (data.size() != wire::input_size || data[0] != 'I') {
            ++stats.bad_inputs;
            return;
        }
        std::uint32_t id = wire::get32(data.data() + 1), seq = wire::get32(data.data() + 5);
        player& p = players[id];
        p.address = from;
        p.last_heard = clock_type::now();
        // UDP may reorder: an older input than the last one applied is ignored.
        if (seq <= p.last_seq && p.last_seq != 0) return;
        p.last_seq = seq;
        p.vx = static_cast<signed char>(data[9]);
        p.vy = static_cast<signed char>(data[10]);
        ++stats.inputs;
    });
    for (int sig : {SIGINT, SIGTERM})
        loop.on_signal(sig, [](int) { stop_requested = 1; }); // not on Windows: SIGTERM

    const microseconds period(1000000 / hz);
    const long long total_ticks = seconds > 0 ? seconds * hz : -1;
    const auto start = clock_type::now() + period;
    stats.lateness_us.reserve(static_cast<std::size_t>(total_ticks > 0 ? total_ticks : 3600 * hz));
    std::printf("game_tick: server on port %u at %lld Hz, spinning the last %lld us, backend %s\n",
                port, hz, spin_us, loop.backend_name());
    std::fflush(stdout);

    std::string snapshot;
    long long tick = 0;
    auto next_report = clock_type::now() + std::chrono::seconds(report_every);
    // --seconds bounds the schedule, not the count run: skipped ticks end it no later.
    while (!stop_requested && (total_ticks < 0 || tick < total_ticks)) {
        const auto scheduled = start + period * tick;
        // Sleep most of the way, then spin the last stretch: the OS wakes a sleeper
        // up to a scheduler slice late; a spin costs one core --spin-us (200) per frame.
        std::this_thread::sleep_until(scheduled - microseconds(spin_us));
        while (clock_type::now() < scheduled) {
        }
        const auto began = clock_type::now();
        long long late = std::chrono::duration_cast<microseconds>(began - scheduled).count();
        stats.lateness_us.push_back(late);
        if (late > 1000) ++stats.late_1ms;
        if (late > period.count() / 2) ++stats.late_half_period;

        loop.poll(); // inputs, signals: whatever is ready, without blocking

        for (auto it = players.begin(); it != players.end();) {
            if (began - it->second.last_heard > std::chrono::seconds(5)) {
                it = players.erase(it);
                ++stats.dropped_players;
                continue;
            }
            it->second.x += it->second.vx;
            it->second.y += it->second.vy;
            ++it;
        }
        stats.max_players = std::max(stats.max_players, players.size());

        // One snapshot for everyone, cut into MTU-sized datagrams, sent to every player.
        std::vector<std::string> parts;
        auto it = players.begin();
        while (it != players.end()) {
            snapshot.clear();
            snapshot.push_back('S');
            wire::put32(snapshot, static_cast<std::uint32_t>(tick));
            std::size_t count_at = snapshot.size();
            snapshot.append(2, '\0');
            std::size_t n = 0;
            for (; it != players.end() && n < wire::snapshot_players; ++it, ++n) {
                wire::put32(snapshot, it->first);
                wire::put32(snapshot, static_cast<std::uint32_t>(it->second.x));
                wire::put32(snapshot, static_cast<std::uint32_t>(it->second.y));
                wire::put32(snapshot, it->second.last_seq);
            }
            snapshot[count_at] = static_cast<char>(n & 0xff);
            snapshot[count_at + 1] = static_cast<char>(n >> 8);
            parts.push_back(snapshot);
        }
        for (auto& entry : players) {
            for (const std::string& part : parts) {
                socket.send_to(entry.second.address,
                               part); // copied only if the kernel buffer is full
                ++stats.snapshots;
                stats.bytes_out += static_cast<long long>(part.size());
            }
        }

        const auto ended = clock_type::now();
        long long work = std::chrono::duration_cast<microseconds>(ended - began).count();
        stats.work_us.push_back(work);
        if (work > period.count()) ++stats.overruns;
        ++stats.ticks;
        ++tick;
        // Fell more than a whole period behind (the process was descheduled): skip the
        // ticks whose time is gone instead of running them back to back.
        const auto behind = ended - (start + period * tick);
        if (behind > period) {
            long long skip = behind / period;
            if (total_ticks >= 0) skip = std::min(skip, total_ticks - tick);
            stats.missed += skip;
            tick += skip;
        }
        if (report_every > 0 && ended >= next_report) {
            print_server_report(stats, "game_tick: so far ");
            next_report += std::chrono::seconds(report_every);
        }
    }
    loop.poll();
    double ran = std::chrono::duration<double>(clock_type::now() - now_at_start).count();
    std::printf("game_tick: server ran %.2f s\n", ran);
    print_server_report(stats, "");
    return 0;
}

// ---------------------------------------------------------------- client

struct simulated_player {
    std::uint32_t id = 0;
    sluice::udp_socket socket;
    std::uint32_t seq = 0;
    long long snapshots = 0, ticks_seen = 0, out_of_order = 0, missing_self = 0;
    long long first_tick = -1, last_tick = -1;
    bool saw_self_this_tick = false;
    clock_type::time_point last_arrival;
};

static int run_client(const std::string& host, std::uint16_t port, long long count,
                      long long seconds, long long hz) {
    sluice::loop loop;
    // Time between consecutive ticks' snapshots, all players together: a server that
    // stalls or sends in bursts shows here even when nothing is lost.
    std::vector<long long> interarrival_us;
    std::error_code ec;
    sluice::endpoint server = sluice::endpoint::parse(host, port, ec);
    if (ec) {
        std::fprintf(stderr, "game_tick: bad host %s: %s\n", host.c_str(), ec.message().c_str());
        return 1;
    }
    std::vector<std::unique_ptr<simulated_player>> players;
    for (long long i = 0; i < count; ++i) {
        auto p = std::make_unique<simulated_player>();
        p->id = static_cast<std::uint32_t>(1000 + i);
        p->socket = sluice::udp_socket(loop);
        if (auto e = p->socket.connect(server)) { // only the server's datagrams come in
            std::fprintf(stderr, "game_tick: connect: %s\n", e.message().c_str());
            return 1;
        }
        simulated_player* self = p.get();
        self->socket.recv_each([self, &interarrival_us](std::error_code e, std::string_view d,
                                                        const sluice::endpoint&) {
            if (e || d.size() < 7 || d[0] != 'S') return;
            long long tick = wire::get32(d.data() + 1);
            std::size_t n = static_cast<unsigned char>(d[5]) |
                            (static_cast<std::size_t>(static_cast<unsigned char>(d[6])) << 8);
            if (d.size() != 7 + n * wire::entry_size) return;
            ++self->snapshots;
            if (tick < self->last_tick) {
                ++self->out_of_order;
                return;
            }
            if (tick > self->last_tick) {
                const auto now = clock_type::now();
                if (self->last_tick >= 0)
                    interarrival_us.push_back(
                        std::chrono::duration_cast<microseconds>(now - self->last_arrival).count());
                self->last_arrival = now;
                if (self->last_tick >= 0 && !self->saw_self_this_tick) ++self->missing_self;
                self->saw_self_this_tick = false;
                ++self->ticks_seen;
                if (self->first_tick < 0) self->first_tick = tick;
                self->last_tick = tick;
            }
            for (std::size_t i = 0; i < n; ++i)
                if (wire::get32(d.data() + 7 + i * wire::entry_size) == self->id)
                    self->saw_self_this_tick = true;
        });
        players.push_back(std::move(p));
    }

    long long inputs_sent = 0;
    sluice::timer send_timer(loop);
    auto period = microseconds(1000000 / hz);
    send_timer.start(microseconds(0), period, [&](std::error_code e) {
        if (e) return;
        for (auto& p : players) {
            std::string input;
            input.push_back('I');
            wire::put32(input, p->id);
            wire::put32(input, ++p->seq);
            input.push_back(static_cast<char>((p->seq % 3) - 1)); // wander about
            input.push_back(static_cast<char>(((p->seq / 7) % 3) - 1));
            p->socket.send(input);
            ++inputs_sent;
        }
    });
    sluice::timer end_timer(loop);
    end_timer.start(std::chrono::seconds(seconds), [&](std::error_code) { loop.stop(); });
    loop.on_signal(SIGINT, [&](int) { loop.stop(); });
    loop.run();

    long long total = 0, out_of_order = 0, heard = 0, min_ticks = -1, missing_self = 0;
    double min_ratio = 1.0;
    for (auto& p : players) {
        total += p->snapshots;
        out_of_order += p->out_of_order;
        missing_self += p->missing_self;
        if (p->ticks_seen > 0) ++heard;
        if (min_ticks < 0 || p->ticks_seen < min_ticks) min_ticks = p->ticks_seen;
        // Of the ticks between the first and last this player saw, how many arrived.
        double span = p->last_tick >= 0 ? static_cast<double>(p->last_tick - p->first_tick + 1) : 1;
        min_ratio = std::min(min_ratio, p->ticks_seen / span);
    }
    std::printf("players=%lld heard=%lld inputs=%lld snapshots=%lld min_ticks=%lld "
                "min_ratio=%.3f out_of_order=%lld missing_self=%lld gap_p50_us=%lld "
                "gap_p99_us=%lld gap_max_us=%lld\n",
                count, heard, inputs_sent, total, min_ticks, min_ratio, out_of_order, missing_self,
                percentile(interarrival_us, 0.50), percentile(interarrival_us, 0.99),
                interarrival_us.empty()
                    ? 0
                    : *std::max_element(interarrival_us.begin(), interarrival_us.end()));
    return 0;
}

// ---------------------------------------------------------------- main

static int usage() {
    std::fprintf(stderr,
                 "usage: game_tick server --port P [--hz 60] [--seconds S] [--report-every S] "
                 "[--spin-us 200]\n"
                 "       game_tick client --port P [--host 127.0.0.1] --players N [--seconds S] "
                 "[--hz 30]\n");
    return 2;
}

int main(int argc, char** argv) {
    if (argc < 2) return usage();
    const bool server = !std::strcmp(argv[1], "server");
    if (!server && std::strcmp(argv[1], "client")) return usage();
    long long port = 0, hz = server ? 60 : 30, seconds = server ? 0 : 5, report_every = 0,
              players = 0, spin_us = 200;
    std::string host = "127.0.0.1";
    for (int i = 2; i < argc; i += 2) {
        if (i + 1 >= argc) return usage();
        const char* v = argv[i + 1];
        bool ok = false;
        if (!std::strcmp(argv[i], "--port"))
            ok = parse_number(v, 1, 65535, port);
        else if (!std::strcmp(argv[i], "--hz"))
            ok = parse_number(v, 1, 1000, hz);
        else if (!std::strcmp(argv[i], "--seconds"))
            ok = parse_number(v, server ? 0 : 1, 86400, seconds);
        else if (server && !std::strcmp(argv[i], "--report-every"))
            ok = parse_number(v, 0, 86400, report_every);
        else if (server && !std::strcmp(argv[i], "--spin-us"))
            ok = parse_number(v, 0, 10000, spin_us);
        else if (!server && !std::strcmp(argv[i], "--players"))
            ok = parse_number(v, 1, 4096, players);
        else if (!server && !std::strcmp(argv[i], "--host")) {
            host = v;
            ok = true;
        }
        if (!ok) return usage();
    }
    if (!port || (!server && !players)) return usage();
    if (server)
        return run_server(static_cast<std::uint16_t>(port), hz, seconds, report_every, spin_us);
    return run_client(host, static_cast<std::uint16_t>(port), players, seconds, hz);
}
