// Topics, typed per-connection data, identity (hash, order) and the send limit of
// ws::server, on the loop with raw clients that speak frames byte by byte.
#include "common.hpp"

#include <doctest/doctest.h>

#include <map>
#include <set>
#include <unordered_set>

using namespace test;
using sluice::ws::opcode;

namespace {

struct raw_ws : raw_client {
    raw_ws(sluice::loop& l, std::uint16_t port, std::string_view path = "/chat", bool read = true)
        : raw_client(l, port, read) {
        std::string req = upgrade_request();
        req.replace(4, 5, std::string(path)); // "GET /chat HTTP/1.1"
        send(req);
    }
    std::vector<wire_frame> frames() const { return frames_after_head(in); }
    std::vector<std::string> payloads() const {
        std::vector<std::string> out;
        for (auto& f : frames()) out.push_back(f.payload);
        return out;
    }
};

// The server side of each raw client, in the order they opened.
struct opened_list {
    std::vector<ws::connection> conns;
    explicit opened_list(ws::server& s) {
        s.on_open([this](ws::connection& c) { conns.push_back(c); });
    }
};

} // namespace

TEST_CASE("ws topics: publish reaches the subscribers of that topic only, each once") {
    ws_fixture f;
    opened_list open(f.wss);
    std::vector<std::unique_ptr<raw_ws>> cs;
    for (int i = 0; i < 5; ++i) cs.push_back(std::make_unique<raw_ws>(f.loop, f.port));
    REQUIRE(f.loop.run_until([&] { return open.conns.size() == 5; }));
    // 0, 1, 2 in "red"; 2, 3 in "blue"; 4 in none. Subscribing twice is harmless.
    for (int i : {0, 1, 2}) CHECK_FALSE(open.conns[i].subscribe("red"));
    for (int i : {2, 3}) CHECK_FALSE(open.conns[i].subscribe("blue"));
    CHECK_FALSE(open.conns[0].subscribe("red"));
    CHECK(f.wss.subscribers("red") == 3);
    CHECK(f.wss.subscribers("blue") == 2);
    CHECK(f.wss.subscribers("green") == 0);
    CHECK(f.wss.topics() == 2);
    CHECK(open.conns[2].is_subscribed("red"));
    CHECK(open.conns[2].is_subscribed("blue"));
    CHECK_FALSE(open.conns[4].is_subscribed("red"));

    CHECK(f.wss.publish("red", "r1") == 3);
    CHECK(f.wss.publish("blue", "b1") == 2);
    CHECK(f.wss.publish("green", "nobody") == 0);
    CHECK(f.wss.publish("red", opcode::text, "\xff", 1) == 0); // not UTF-8: not sent
    REQUIRE(f.loop.run_until([&] {
        return cs[0]->frames().size() == 1 && cs[2]->frames().size() == 2 &&
               cs[3]->frames().size() == 1;
    }));
    f.loop.run_for(std::chrono::milliseconds(20)); // nothing else may arrive
    CHECK(cs[0]->payloads() == std::vector<std::string>{"r1"});
    CHECK(cs[1]->payloads() == std::vector<std::string>{"r1"});
    CHECK(cs[2]->payloads() == std::vector<std::string>{"r1", "b1"});
    CHECK(cs[3]->payloads() == std::vector<std::string>{"b1"});
    CHECK(cs[4]->frames().empty());

    // Unsubscribing: only that pair; the topic disappears with its last subscriber.
    CHECK(open.conns[2].unsubscribe("red"));
    CHECK_FALSE(open.conns[2].unsubscribe("red"));
    CHECK_FALSE(open.conns[4].unsubscribe("red"));
    CHECK(f.wss.subscribers("red") == 2);
    CHECK(open.conns[3].unsubscribe("blue"));
    CHECK(open.conns[2].unsubscribe("blue"));
    CHECK(f.wss.topics() == 1);
    CHECK(f.wss.publish("blue", "b2") == 0);
    CHECK(f.wss.publish("red", "r2") == 2);
}

TEST_CASE("ws topics: a connection's publish skips itself; one frame is shared by all") {
    ws_fixture f;
    opened_list open(f.wss);
    raw_ws a(f.loop, f.port), b(f.loop, f.port), c(f.loop, f.port);
    REQUIRE(f.loop.run_until([&] { return open.conns.size() == 3; }));
    for (auto& k : open.conns) REQUIRE_FALSE(k.subscribe("room"));
    CHECK(open.conns[0].publish("room", "from a") == 2);
    ws::prepared_message pm;
    REQUIRE_FALSE(ws::prepare(opcode::binary, "bin", 3, pm));
    CHECK(f.wss.publish("room", pm) == 3);
    REQUIRE(f.loop.run_until([&] { return b.frames().size() == 2 && c.frames().size() == 2; }));
    REQUIRE(f.loop.run_until([&] { return a.frames().size() == 1; }));
    CHECK(a.frames()[0].op == opcode::binary);
    CHECK(b.payloads() == std::vector<std::string>{"from a", "bin"});
    CHECK(c.payloads() == std::vector<std::string>{"from a", "bin"});
}

TEST_CASE("ws topics: a connection leaves its topics when it ends, however it ends") {
    ws_fixture f;
    opened_list open(f.wss);
    auto a = std::make_unique<raw_ws>(f.loop, f.port);
    raw_ws b(f.loop, f.port), c(f.loop, f.port);
    REQUIRE(f.loop.run_until([&] { return open.conns.size() == 3; }));
    for (auto& k : open.conns) {
        REQUIRE_FALSE(k.subscribe("t1"));
        REQUIRE_FALSE(k.subscribe("t2"));
    }
    CHECK(f.wss.subscribers("t1") == 3);
    a.reset(); // TCP gone without a close frame
    REQUIRE(f.loop.run_until([&] { return f.wss.size() == 2; }));
    CHECK(f.wss.subscribers("t1") == 2);
    CHECK(f.wss.subscribers("t2") == 2);
    b.send(frame(opcode::close, close_payload(1000))); // a close handshake
    REQUIRE(f.loop.run_until([&] { return f.wss.size() == 1; }));
    CHECK(f.wss.subscribers("t1") == 1);
    open.conns[2].abort(); // our own abort
    CHECK(f.wss.subscribers("t1") == 0);
    CHECK(f.wss.topics() == 0);
    CHECK(open.conns[2].subscribe("t1") == ws::error::closed); // ended: refused
    CHECK_FALSE(open.conns[2].is_subscribed("t1"));
}

TEST_CASE("ws topics: limits on names and on topics per connection") {
    ws::settings s;
    s.max_topics = 3;
    s.max_topic_size = 8;
    ws_fixture f(s);
    opened_list open(f.wss);
    raw_ws a(f.loop, f.port);
    REQUIRE(f.loop.run_until([&] { return open.conns.size() == 1; }));
    ws::connection& c = open.conns[0];
    CHECK(c.subscribe("") == ws::error::topic_too_long);
    CHECK(c.subscribe("123456789") == ws::error::topic_too_long);
    CHECK_FALSE(c.subscribe("12345678"));
    CHECK_FALSE(c.subscribe("b"));
    CHECK_FALSE(c.subscribe("c"));
    CHECK(c.subscribe("d") == ws::error::too_many_topics);
    CHECK_FALSE(c.subscribe("c")); // already in: not a new topic
    CHECK(c.unsubscribe("b"));
    CHECK_FALSE(c.subscribe("d"));
    CHECK(f.wss.topics() == 3);
    CHECK(ws::connection().subscribe("x") == ws::error::closed);
}

namespace {
struct member {
    std::string room;
    int* alive;
    member(std::string r, int* a) : room(std::move(r)), alive(a) { ++*alive; }
    member(member&& o) noexcept : room(std::move(o.room)), alive(o.alive) { ++*alive; }
    member(const member&) = delete;
    ~member() { --*alive; }
};
} // namespace

TEST_CASE("ws typed data: made from the request at upgrade, seen by on_open, gone at close") {
    int alive = 0; // before the fixture: the server's destructor ends the last connection
    ws_fixture f;
    std::vector<std::string> seen_open, seen_close;
    f.web.on_request([&](const http::request_view& req, http::response& res) {
        std::string_view p = req.path(); // "/room/NAME"
        f.wss.upgrade(req, res, member(std::string(p.substr(p.rfind('/') + 1)), &alive));
    });
    f.wss.on_open([&](ws::connection& c) {
        REQUIRE(c.data<member>() != nullptr);
        CHECK(c.data<int>() == nullptr); // another type: no RTTI needed to tell
        seen_open.push_back(c.data<member>()->room);
        CHECK_FALSE(c.subscribe(c.data<member>()->room));
    });
    f.wss.on_close([&](ws::connection& c, const ws::close_status&) {
        REQUIRE(c.data<member>() != nullptr); // still there for on_close
        seen_close.push_back(c.data<member>()->room);
    });
    auto a = std::make_unique<raw_ws>(f.loop, f.port, "/room/kitchen");
    raw_ws b(f.loop, f.port, "/room/attic");
    REQUIRE(f.loop.run_until([&] { return f.wss.size() == 2; }));
    CHECK(alive == 2);
    CHECK(seen_open == std::vector<std::string>{"kitchen", "attic"});
    CHECK(f.wss.publish("kitchen", "k") == 1);
    CHECK(f.wss.publish("attic", "a") == 1);
    a->send(frame(opcode::close, close_payload(1000)));
    REQUIRE(f.loop.run_until([&] { return f.wss.size() == 1; }));
    CHECK(alive == 1); // destroyed when the connection ended
    CHECK(seen_close == std::vector<std::string>{"kitchen"});
    a.reset();
    // A refused handshake keeps nothing.
    raw_client bad(f.loop, f.port);
    bad.send("GET /room/x HTTP/1.1\r\nHost: t\r\n\r\n");
    REQUIRE(f.loop.run_until([&] { return bad.in.find("\r\n\r\n") != std::string::npos; }));
    CHECK(bad.in.rfind("HTTP/1.1 4", 0) == 0); // refused (no Upgrade header)
    CHECK(bad.in.find(" 101 ") == std::string::npos);
    CHECK(alive == 1);
}

TEST_CASE("ws typed data: a handle kept after the end sees no data") {
    int alive = 0;
    ws_fixture f;
    ws::connection kept;
    f.web.on_request([&](const http::request_view& req, http::response& res) {
        kept = f.wss.upgrade(req, res, member("r", &alive));
    });
    auto a = std::make_unique<raw_ws>(f.loop, f.port);
    REQUIRE(f.loop.run_until([&] { return f.wss.size() == 1; }));
    REQUIRE(kept.data<member>() != nullptr);
    kept.abort();
    CHECK(kept.data<member>() == nullptr);
    CHECK(alive == 0);
}

TEST_CASE("ws connection: hashable and ordered by identity") {
    ws_fixture f;
    opened_list open(f.wss);
    raw_ws a(f.loop, f.port), b(f.loop, f.port), c(f.loop, f.port);
    REQUIRE(f.loop.run_until([&] { return open.conns.size() == 3; }));
    std::unordered_set<ws::connection> hs(open.conns.begin(), open.conns.end());
    std::set<ws::connection> os(open.conns.begin(), open.conns.end());
    std::map<ws::connection, int> names;
    for (auto& k : open.conns) names[k] = static_cast<int>(names.size());
    CHECK(hs.size() == 3);
    CHECK(os.size() == 3);
    CHECK(names.size() == 3);
    ws::connection copy = open.conns[1];
    CHECK(hs.count(copy) == 1);
    CHECK(names[copy] == 1);
    CHECK(std::hash<ws::connection>()(copy) == std::hash<ws::connection>()(open.conns[1]));
    CHECK_FALSE(copy < open.conns[1]);
    CHECK_FALSE(open.conns[1] < copy);
}

namespace {
// Sends numbered 16 KiB messages to `c` until a send is refused (bounded).
int fill(ws_fixture& f, ws::connection& c, std::uint32_t& seq, std::error_code& ec) {
    std::string msg(16 * 1024, 'x');
    int sent = 0;
    for (int i = 0; i < 20000; ++i) {
        std::memcpy(&msg[0], &seq, sizeof seq);
        ec = c.send_binary(msg);
        if (ec) return sent;
        ++seq;
        ++sent;
        if (i % 16 == 0) f.loop.run_for(std::chrono::milliseconds(1));
    }
    return sent;
}
} // namespace

TEST_CASE("ws send limit: a peer that never reads is closed with 1008; memory stays bounded") {
    ws::settings s;
    s.close_timeout = std::chrono::milliseconds(200);
    ws_fixture f(s);
    opened_list open(f.wss);
    bool closed = false;
    f.wss.on_close([&](ws::connection&, const ws::close_status&) { closed = true; });
    raw_ws stalled(f.loop, f.port, "/chat", false); // sends its handshake, never reads
    REQUIRE(f.loop.run_until([&] { return open.conns.size() == 1; }));
    ws::connection c = open.conns[0];
    CHECK(c.send_limit() == 1024 * 1024); // the default
    std::uint32_t seq = 0;
    std::error_code ec;
    int sent = fill(f, c, seq, ec);
    CHECK(sent > 0);
    CHECK(ec == sluice::error::write_queue_full);
    // Never more than the limit plus the message that crossed it, plus the close frame.
    CHECK(c.buffered_amount() <= 1024 * 1024 + 16 * 1024 + 16 + 4096);
    CHECK(c.write_queue_high());
    CHECK(c.send_text("more") == ws::error::closed); // the close frame is queued
    REQUIRE(f.loop.run_until([&] { return closed; }));
    CHECK_FALSE(c.is_open());
    CHECK(f.wss.size() == 0);
}

TEST_CASE("ws send limit: drop policy — refused sends drop whole messages, the rest arrive in order") {
    ws::settings s;
    s.on_send_limit = ws::send_limit_policy::drop;
    s.send_limit = 256 * 1024;
    ws_fixture f(s);
    opened_list open(f.wss);
    raw_ws slow(f.loop, f.port, "/chat", false);
    REQUIRE(f.loop.run_until([&] { return open.conns.size() == 1; }));
    ws::connection c = open.conns[0];
    std::uint32_t seq = 0;
    std::error_code ec;
    fill(f, c, seq, ec);
    CHECK(ec == sluice::error::write_queue_full);
    CHECK(c.is_open()); // dropped, not closed
    CHECK(c.write_queue_high());
    CHECK(c.buffered_amount() <= 256 * 1024 + 16 * 1024 + 16);
    const std::uint32_t accepted = seq; // messages 0 .. accepted-1 were queued
    // Sends keep being refused while the peer does not read; then it reads.
    CHECK(c.send_binary(std::string(100, 'y')) == sluice::error::write_queue_full);
    bool drained = false;
    c.on_drain([&] { drained = true; });
    slow.start_reading();
    REQUIRE(f.loop.run_until([&] { return drained; }));
    CHECK_FALSE(c.write_queue_high());
    CHECK_FALSE(c.send_text("after the drain"));
    const std::string last = "after the drain";
    REQUIRE(f.loop.run_until([&] {
        return slow.in.size() >= last.size() &&
               slow.in.compare(slow.in.size() - last.size(), last.size(), last) == 0;
    }));
    auto fr = slow.frames();
    REQUIRE(fr.size() == accepted + 1);
    for (std::uint32_t i = 0; i < accepted; ++i) { // whole, in order, no hole
        std::uint32_t got = 0;
        REQUIRE(fr[i].payload.size() == 16 * 1024);
        std::memcpy(&got, fr[i].payload.data(), sizeof got);
        REQUIRE(got == i);
    }
    CHECK(fr.back().payload == "after the drain");
}

TEST_CASE("ws send limit: every watermark setting makes write_queue_high() trip") {
    // The old trap: a high watermark equal to (or above) the cap never tripped, because
    // the cap refused the write first. Watermarks are now clamped under the send limit (so
    // they trip before it refuses), and a refusal by write.hard_cap itself counts as high
    // until the queue drains.
    struct shape {
        std::size_t low, high, cap, limit;
    };
    for (shape sh : {shape{256 << 10, 1 << 20, 1 << 20, 0}, shape{256 << 10, 4 << 20, 64 << 20, 1 << 20},
                     shape{1 << 20, 1 << 20, 64 << 20, 512 << 10}, shape{0, 0, 64 << 20, 1 << 20}}) {
        CAPTURE(sh.low);
        CAPTURE(sh.high);
        CAPTURE(sh.cap);
        CAPTURE(sh.limit);
        ws::settings s;
        s.write.low_watermark = sh.low;
        s.write.high_watermark = sh.high;
        s.write.hard_cap = sh.cap;
        s.send_limit = sh.limit;
        s.on_send_limit = ws::send_limit_policy::drop;
        ws_fixture f(s);
        opened_list open(f.wss);
        raw_ws slow(f.loop, f.port, "/chat", false);
        REQUIRE(f.loop.run_until([&] { return open.conns.size() == 1; }));
        ws::connection c = open.conns[0];
        std::string msg(16 * 1024, 'x');
        bool high_before_refusal = false;
        std::error_code ec;
        for (int i = 0; i < 20000 && !ec; ++i) {
            if (c.write_queue_high()) high_before_refusal = true;
            ec = c.send_binary(msg);
            if (i % 16 == 0) f.loop.run_for(std::chrono::milliseconds(1));
        }
        CHECK(ec == sluice::error::write_queue_full);
        CHECK(c.write_queue_high()); // at the latest from the refusal on
        if (sh.limit != 0 && sh.limit < sh.cap) CHECK(high_before_refusal);
        CHECK(c.is_open());
        bool drained = false;
        c.on_drain([&] { drained = true; });
        slow.start_reading();
        REQUIRE(f.loop.run_until([&] { return drained; }));
        CHECK_FALSE(c.write_queue_high());
    }
}
