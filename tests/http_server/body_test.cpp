// Request bodies: streamed to a head-first handler (on_request_stream + body_reader) with
// backpressure, buffered whole within max_buffered_body (on_request, read_all), and the
// limits on both (issue #16, bug 9).
#include "common.hpp"

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

using namespace std::chrono_literals;
namespace http = sluice::http;
using test::parse_responses;
using test::raw_client;

namespace {

std::string post_head(std::string_view target, std::size_t length, std::string_view extra = {}) {
    return "POST " + std::string(target) +
           " HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(length) + "\r\n" +
           std::string(extra) + "\r\n";
}

std::string chunked_head(std::string_view target, std::string_view extra = {}) {
    return "POST " + std::string(target) +
           " HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n" + std::string(extra) + "\r\n";
}

std::string chunk(std::string_view data) {
    char size[20];
    int n = std::snprintf(size, sizeof size, "%zx\r\n", data.size());
    return std::string(size, static_cast<std::size_t>(n)) + std::string(data) + "\r\n";
}

// Reads a body to its end, one piece at a time, and answers with what it saw.
struct sink : std::enable_shared_from_this<sink> {
    http::body_reader body;
    http::response res;
    std::string got;
    std::size_t pieces = 0;
    std::error_code end;
    bool finished = false;

    void pump() {
        body.read([self = shared_from_this()](std::error_code ec, std::string_view d) {
            if (ec) {
                self->end = ec;
                self->finished = true;
                if (ec == sluice::error::eof)
                    self->res.end("got " + self->got);
                else
                    self->res.status(static_cast<unsigned>(http::suggested_status(ec))).end();
                return;
            }
            CHECK_FALSE(d.empty());
            ++self->pieces;
            self->got.append(d.data(), d.size());
            self->pump();
        });
    }
};

} // namespace

TEST_CASE("streamed body: pieces in order, then eof; pipelined requests go on") {
    test::http_fixture f;
    std::vector<std::shared_ptr<sink>> sinks;
    std::vector<std::string> heads;
    f.server.on_request_stream(
        [&](const http::request_view& req, http::body_reader& body, http::response& res) {
            heads.push_back(std::string(req.method()) + " " + std::string(req.target()) + " " +
                            std::string(req.get("X-Tag")));
            CHECK(req.body().empty());
            auto s = std::make_shared<sink>();
            s->body = std::move(body);
            s->res = std::move(res);
            s->pump();
            sinks.push_back(s);
        });
    f.listen();
    raw_client c(f.loop, f.port);
    REQUIRE(f.loop.run_until([&] { return c.connected; }));
    // A Content-Length body cut in three, a chunked one, then a bodiless GET.
    c.send(post_head("/cl", 11, "X-Tag: one\r\n") + "hel");
    REQUIRE(f.loop.run_until([&] { return heads.size() == 1; })); // head first
    f.loop.run_for(5ms);
    c.send("lo wo");
    f.loop.run_for(5ms);
    c.send("rld" + chunked_head("/chunked", "X-Tag: two\r\n") + chunk("abc"));
    f.loop.run_for(5ms);
    c.send(chunk("defg") + "0\r\nTrailer-X: 1\r\n\r\n" +
           test::get_request("/get", "X-Tag: three\r\n"));
    REQUIRE(f.loop.run_until([&] { return parse_responses(c.in).size() == 3; }));
    auto r = parse_responses(c.in);
    CHECK(r[0].body == "got hello world");
    CHECK(r[1].body == "got abcdefg");
    CHECK(r[2].body == "got ");
    REQUIRE(heads.size() == 3);
    CHECK(heads[0] == "POST /cl one");
    CHECK(heads[1] == "POST /chunked two");
    CHECK(heads[2] == "GET /get three");
    for (auto& s : sinks) CHECK(s->end == sluice::error::eof);
    CHECK(sinks[0]->pieces >= 2); // delivered as it came
    CHECK(sinks[2]->pieces == 0);
    CHECK(f.server.requests() == 3);
}

TEST_CASE("streamed body: one read at a time; reads after the end say eof again") {
    test::http_fixture f;
    std::vector<std::error_code> results;
    http::body_reader kept;
    http::response res_kept;
    f.server.on_request_stream(
        [&](const http::request_view&, http::body_reader& body, http::response& res) {
            kept = std::move(body);
            res_kept = std::move(res);
            CHECK(kept.length() == 4);
            kept.read([&](std::error_code ec, std::string_view d) {
                results.push_back(ec);
                CHECK(d == "data");
                // The body is complete: eof, now and for every later read.
                kept.read([&](std::error_code ec2, std::string_view) {
                    results.push_back(ec2);
                    CHECK(kept.done());
                    kept.read([&](std::error_code ec3, std::string_view) {
                        results.push_back(ec3);
                        res_kept.end("ok");
                    });
                });
            });
            bool second_ran_inline = false;
            kept.read([&](std::error_code ec, std::string_view) {
                second_ran_inline = true;
                results.push_back(ec);
            });
            CHECK_FALSE(second_ran_inline); // never inside the call that started it
        });
    f.listen();
    raw_client c(f.loop, f.port);
    c.send(post_head("/x", 4) + "data");
    REQUIRE(f.loop.run_until([&] { return parse_responses(c.in).size() == 1; }));
    // The piece and the first eof came inside the read that brought them; the refused
    // second read and the last eof from the loop, after.
    REQUIRE(results.size() == 4);
    CHECK_FALSE(results[0]);
    CHECK(results[1] == sluice::error::eof);
    CHECK(results[2] == sluice::error::in_progress);
    CHECK(results[3] == sluice::error::eof);
}

TEST_CASE("streamed body: a slow reader keeps the connection's buffered bytes bounded") {
    // 256 MiB uploaded by a client that writes whenever its queue allows; the handler
    // reads 4 MiB, then stops reading for 20 ms, and so on. Bytes handed to the kernel by
    // the client minus bytes handed to the reader is everything in flight: the kernel's
    // socket buffers and whatever the server holds. It must stay bounded (the server
    // reads from the socket only while a read is pending), far below the body's size.
    http::server_settings s;
    s.limits.max_body = std::uint64_t(1) << 30;
    s.idle_timeout = 30s;
    test::http_fixture f(s);
    const std::uint64_t total = std::uint64_t(256) << 20;
    const std::uint64_t burst = 4 << 20;
    std::uint64_t sent = 0, received = 0, max_gap = 0, since_pause = 0;
    std::size_t max_piece = 0;
    bool complete = false;
    http::body_reader reader;
    http::response answer;
    sluice::timer pause(f.loop);
    std::function<void()> read_on = [&] {
        reader.read([&](std::error_code ec, std::string_view d) {
            if (ec) {
                CHECK(ec == sluice::error::eof);
                complete = true;
                answer.end(std::to_string(received));
                return;
            }
            received += d.size();
            since_pause += d.size();
            if (d.size() > max_piece) max_piece = d.size();
            if (since_pause >= burst) {
                since_pause = 0;
                pause.start(20ms, [&](std::error_code) { read_on(); });
                return;
            }
            read_on();
        });
    };
    f.server.on_request_stream(
        [&](const http::request_view&, http::body_reader& body, http::response& res) {
            reader = std::move(body);
            answer = std::move(res);
            read_on();
        });
    f.listen();

    raw_client c(f.loop, f.port);
    REQUIRE(f.loop.run_until([&] { return c.connected; }));
    const std::string piece(256 * 1024, 'u');
    std::uint64_t queued = 0;
    std::function<void()> push = [&] {
        while (queued < total && !c.s.write_queue_high()) {
            std::size_t n =
                static_cast<std::size_t>(std::min<std::uint64_t>(piece.size(), total - queued));
            queued += n;
            c.s.write(std::string_view(piece.data(), n), [&](std::error_code ec, std::size_t m) {
                if (ec) return;
                sent += m;
                // The handler runs from the loop some time after the kernel took the bytes
                // (on io_uring after the send's completion), by when the reader may have
                // had them already.
                if (sent > received && sent - received > max_gap) max_gap = sent - received;
            });
        }
        if (queued < total) c.s.on_drain([&] { push(); });
    };
    c.s.write(post_head("/upload", static_cast<std::size_t>(total)));
    push();
    REQUIRE(f.loop.run_until([&] { return complete; }, 120s));
    REQUIRE(f.loop.run_until([&] { return parse_responses(c.in).size() == 1; }));
    CHECK(parse_responses(c.in)[0].body == std::to_string(total));
    CHECK(received == total);
    MESSAGE("largest gap between sent and read: " << (max_gap >> 20) << " MiB; largest piece "
                                                  << max_piece << " bytes");
    CHECK(max_gap < (std::uint64_t(48) << 20)); // kernel buffers, not the body
    CHECK(max_piece <= 2 * sluice::loop::shared_buffer_size);
}

TEST_CASE("streamed body: read_all buffers per request within its limit") {
    test::http_fixture f;
    std::vector<std::string> got;
    std::vector<std::error_code> errors;
    f.server.on_request_stream(
        [&](const http::request_view& req, http::body_reader& body, http::response& res) {
            auto r = std::make_shared<http::response>(std::move(res));
            auto b = std::make_shared<http::body_reader>(std::move(body));
            std::size_t limit = req.path() == "/small" ? 8 : 1024;
            b->read_all(limit, [&, r, b](std::error_code ec, std::string_view all) {
                if (ec) {
                    errors.push_back(ec);
                    r->status(static_cast<unsigned>(http::suggested_status(ec))).end();
                    return;
                }
                got.push_back(std::string(all));
                r->end(all);
            });
        });
    f.listen();
    {
        raw_client c(f.loop, f.port);
        c.send(post_head("/big", 11) + "hello world" + chunked_head("/big") + chunk("abc") +
               chunk("def") + "0\r\n\r\n");
        REQUIRE(f.loop.run_until([&] { return parse_responses(c.in).size() == 2; }));
        auto r = parse_responses(c.in);
        CHECK(r[0].body == "hello world");
        CHECK(r[1].body == "abcdef");
        CHECK_FALSE(c.closed);
    }
    {
        // A Content-Length over the limit fails before any of the body is read: no
        // 100 Continue, the answer closes the connection.
        raw_client c(f.loop, f.port);
        c.send(post_head("/small", 100, "Expect: 100-continue\r\n"));
        REQUIRE(f.loop.run_until([&] { return c.closed; }));
        auto r = parse_responses(c.in);
        REQUIRE(r.size() == 1);
        CHECK(r[0].status == 413);
        CHECK(r[0].get("Connection") == "close");
        CHECK(c.in.find("100 Continue") == std::string::npos);
    }
    {
        // A chunked body fails as soon as it passes the limit.
        raw_client c(f.loop, f.port);
        c.send(chunked_head("/small") + chunk("12345") + chunk("67890"));
        REQUIRE(f.loop.run_until([&] { return c.closed; }));
        auto r = parse_responses(c.in);
        REQUIRE(r.size() == 1);
        CHECK(r[0].status == 413);
    }
    REQUIRE(errors.size() == 2);
    CHECK(errors[0] == http::error::body_too_large);
    CHECK(errors[1] == http::error::body_too_large);
    CHECK(got.size() == 2);
}

TEST_CASE("streamed body: an unread body up to max_discarded_body is read and dropped, "
          "a larger one closes with Connection: close") {
    http::server_settings st;
    st.max_discarded_body = 64 * 1024;
    test::http_fixture f(st);
    int handled = 0;
    f.server.on_request_stream(
        [&](const http::request_view& req, http::body_reader&, http::response& res) {
            ++handled;
            res.end("ignored " + std::string(req.path())); // the reader is left unread
        });
    f.listen();
    {
        // The whole body came with the head: skipped, the connection goes on.
        raw_client c(f.loop, f.port);
        c.send(post_head("/a", 5) + "hello" + test::get_request("/b"));
        REQUIRE(f.loop.run_until([&] { return parse_responses(c.in).size() == 2; }));
        auto r = parse_responses(c.in);
        CHECK(r[0].body == "ignored /a");
        CHECK(r[0].get("Connection").empty());
        CHECK(r[1].body == "ignored /b");
        CHECK_FALSE(c.closed);
    }
    {
        // Most of the body is still to come, but within the limit: answered at once, the
        // rest read and dropped as it comes, and the connection goes on.
        raw_client c(f.loop, f.port);
        c.send(post_head("/c", 60000) + "only a little");
        REQUIRE(f.loop.run_until([&] { return parse_responses(c.in).size() == 1; }));
        CHECK(parse_responses(c.in)[0].get("Connection").empty());
        c.send(std::string(60000 - 13, 'x') + test::get_request("/d"));
        REQUIRE(f.loop.run_until([&] { return parse_responses(c.in).size() == 2 || c.closed; }));
        auto r = parse_responses(c.in);
        REQUIRE(r.size() == 2);
        CHECK(r[1].body == "ignored /d");
        CHECK_FALSE(c.closed);
    }
    {
        // Past the limit: the answer says Connection: close, and the connection closes
        // instead of reading the rest.
        raw_client c(f.loop, f.port);
        c.send(post_head("/e", 100000) + "only a little");
        REQUIRE(f.loop.run_until([&] { return c.closed; }));
        auto r = parse_responses(c.in);
        REQUIRE(r.size() == 1);
        CHECK(r[0].body == "ignored /e");
        CHECK(r[0].get("Connection") == "close");
    }
    {
        // Chunked, so of unknown size: dropped while within the limit, then closed.
        raw_client c(f.loop, f.port);
        c.send(chunked_head("/f") + chunk(std::string(1000, 'y')));
        REQUIRE(f.loop.run_until([&] { return parse_responses(c.in).size() == 1; }));
        c.send(chunk(std::string(1000, 'y')) + "0\r\n\r\n" + test::get_request("/g"));
        REQUIRE(f.loop.run_until([&] { return parse_responses(c.in).size() == 2 || c.closed; }));
        REQUIRE(parse_responses(c.in).size() == 2);
        CHECK_FALSE(c.closed);
        // Another one that goes on past the limit (its answer cannot know the size).
        c.send(chunked_head("/h") + chunk("a"));
        std::string big;
        for (int i = 0; i < 80; ++i) big += chunk(std::string(1024, 'z'));
        c.send(big);
        REQUIRE(f.loop.run_until([&] { return c.closed; }));
        CHECK(parse_responses(c.in).size() == 3);
    }
    {
        // Dropped later, while the handler still holds the response: within the limit the
        // rest is dropped as it comes; past it, Connection: close.
        std::map<std::string, http::response> later; // by path
        f.server.on_request_stream(
            [&](const http::request_view& req, http::body_reader& body, http::response& res) {
                later[std::string(req.path())] = std::move(res);
                http::body_reader gone = std::move(body);
            });
        auto answer = [&](const std::string& path, std::string_view text) {
            REQUIRE(f.loop.run_until([&] { return later.count(path) == 1; }));
            later[path].end(text);
        };
        raw_client short_body(f.loop, f.port); // (not "small": a macro in windows.h)
        short_body.send(post_head("/i", 1000) + "a little");
        answer("/i", "done");
        short_body.send(std::string(1000 - 8, 'x') + test::get_request("/k"));
        answer("/k", "k");
        REQUIRE(f.loop.run_until([&] { return parse_responses(short_body.in).size() == 2; }));
        auto r = parse_responses(short_body.in);
        CHECK(r[0].get("Connection").empty());
        CHECK(r[1].body == "k");
        CHECK_FALSE(short_body.closed);

        raw_client long_body(f.loop, f.port);
        long_body.send(post_head("/j", 100000) + "a little");
        answer("/j", "done");
        REQUIRE(f.loop.run_until([&] { return long_body.closed; }));
        r = parse_responses(long_body.in);
        REQUIRE(r.size() == 1);
        CHECK(r[0].get("Connection") == "close");
    }
    CHECK(handled == 8);
}

TEST_CASE("streamed body: 100 Continue goes out at the first read, not before") {
    test::http_fixture f;
    http::body_reader reader;
    http::response res_kept;
    std::string got;
    f.server.on_request_stream(
        [&](const http::request_view&, http::body_reader& body, http::response& res) {
            reader = std::move(body);
            res_kept = std::move(res);
        });
    f.listen();
    raw_client c(f.loop, f.port);
    c.send(post_head("/x", 4, "Expect: 100-continue\r\n"));
    REQUIRE(f.loop.run_until([&] { return static_cast<bool>(reader); }));
    f.loop.run_for(20ms);
    CHECK(c.in.empty()); // no read yet: the client is not asked for the body
    reader.read([&](std::error_code ec, std::string_view d) {
        if (!ec) got.append(d.data(), d.size());
    });
    REQUIRE(f.loop.run_until([&] { return c.in == "HTTP/1.1 100 Continue\r\n\r\n"; }));
    c.send("body");
    REQUIRE(f.loop.run_until([&] { return got == "body"; }));
    res_kept.end("thanks");
    REQUIRE(f.loop.run_until([&] { return parse_responses(c.in).size() == 1; }));
}

TEST_CASE("streamed body: limits.max_body bounds streamed bodies too") {
    http::server_settings s;
    s.limits.max_body = 16;
    test::http_fixture f(s);
    std::vector<std::error_code> errors;
    int handled = 0;
    std::vector<std::shared_ptr<sink>> sinks;
    f.server.on_request_stream(
        [&](const http::request_view&, http::body_reader& body, http::response& res) {
            ++handled;
            auto k = std::make_shared<sink>();
            k->body = std::move(body);
            k->res = std::move(res);
            k->pump();
            sinks.push_back(k);
        });
    f.listen();
    {
        raw_client c(f.loop, f.port); // refused from its Content-Length, before the handler
        c.send(post_head("/x", 17));
        REQUIRE(f.loop.run_until([&] { return c.closed; }));
        auto r = parse_responses(c.in);
        REQUIRE(r.size() == 1);
        CHECK(r[0].status == 413);
        CHECK(handled == 0);
    }
    {
        raw_client c(f.loop, f.port); // chunked: the reader hears it, the handler answers
        c.send(chunked_head("/y") + chunk("0123456789") + chunk("0123456789"));
        REQUIRE(f.loop.run_until([&] { return c.closed; }));
        auto r = parse_responses(c.in);
        REQUIRE(r.size() == 1);
        CHECK(r[0].status == 413);
        CHECK(r[0].get("Connection") == "close");
        REQUIRE(sinks.size() == 1);
        CHECK(sinks[0]->end == http::error::body_too_large);
    }
}

TEST_CASE("streamed body: both handlers set, the head-first one wins") {
    test::http_fixture f;
    int buffered = 0, streamed = 0;
    f.server.on_request([&](const http::request_view&, http::response& res) {
        ++buffered;
        res.end("buffered");
    });
    f.server.on_request_stream(
        [&](const http::request_view&, http::body_reader& body, http::response& res) {
            ++streamed;
            auto r = std::make_shared<http::response>(std::move(res));
            // The reader must live until its read completes (destroying it aborts the read).
            auto b = std::make_shared<http::body_reader>(std::move(body));
            b->read_all([r, b](std::error_code ec, std::string_view all) {
                r->end(ec ? "error " + ec.message() : "streamed " + std::string(all));
            });
        });
    f.listen();
    raw_client c(f.loop, f.port);
    c.send(post_head("/x", 3) + "abc");
    REQUIRE(f.loop.run_until([&] { return parse_responses(c.in).size() == 1; }));
    CHECK(parse_responses(c.in)[0].body == "streamed abc");
    CHECK(buffered == 0);
    CHECK(streamed == 1);
}

TEST_CASE("streamed body: the two-handler form sends requests without a body to the other") {
    test::http_fixture f;
    std::vector<std::string> seen; // "stream POST /b" or "bodiless GET /a"
    auto stream_handler = [&](const http::request_view& req, http::body_reader& body,
                              http::response& res) {
        seen.push_back("stream " + std::string(req.method()) + " " + std::string(req.target()));
        auto r = std::make_shared<http::response>(std::move(res));
        auto b = std::make_shared<http::body_reader>(std::move(body));
        b->read_all([r, b](std::error_code ec, std::string_view all) {
            r->end(ec ? "error " + ec.message() : "streamed " + std::string(all));
        });
    };
    int reads_inline = 0;
    bool in_handler = false;
    f.server.on_request_stream(stream_handler, [&](const http::request_view& req,
                                                   http::response& res) {
        in_handler = true;
        seen.push_back("bodiless " + std::string(req.method()) + " " + std::string(req.target()));
        // A reader at the end of the empty body: done, and its read says eof from the loop.
        auto b = std::make_shared<http::body_reader>(http::bodiless_body(req));
        CHECK(b->done());
        auto r = std::make_shared<http::response>(std::move(res));
        b->read([r, b, &in_handler, &reads_inline](std::error_code ec, std::string_view d) {
            if (in_handler) ++reads_inline;
            r->end("bodiless " + ec.message() + " [" + std::string(d) + "]");
        });
        in_handler = false;
    });
    f.listen();
    raw_client c(f.loop, f.port);
    c.send("GET /a HTTP/1.1\r\nHost: t\r\n\r\n" + post_head("/b", 3) + "abc" +
           post_head("/c", 0) + chunked_head("/d") + "0\r\n\r\n");
    REQUIRE(f.loop.run_until([&] { return parse_responses(c.in).size() == 4; }));
    auto got = parse_responses(c.in);
    const std::string eof = make_error_code(sluice::error::eof).message();
    CHECK(got[0].body == "bodiless " + eof + " []");
    CHECK(got[1].body == "streamed abc");
    CHECK(got[2].body == "bodiless " + eof + " []"); // Content-Length: 0 is no body
    CHECK(got[3].body == "streamed ");               // a chunked body, even an empty one
    CHECK(seen == std::vector<std::string>{"bodiless GET /a", "stream POST /b",
                                           "bodiless POST /c", "stream POST /d"});
    CHECK(reads_inline == 0);

    // The one-handler form again: every request is the stream handler's.
    f.server.on_request_stream(stream_handler);
    c.in.clear();
    c.send("GET /e HTTP/1.1\r\nHost: t\r\n\r\n");
    REQUIRE(f.loop.run_until([&] { return parse_responses(c.in).size() == 1; }));
    CHECK(parse_responses(c.in)[0].body == "streamed ");
    CHECK(seen.back() == "stream GET /e");
    // A request_view no server made gives an empty reader.
    http::message m;
    CHECK_FALSE(http::bodiless_body(http::request_view(m, {})));
}

TEST_CASE("streamed body: a pending read completes once, from the loop, when the server goes") {
    test::bounded_loop loop;
    auto srv = std::make_unique<http::server>(loop);
    http::body_reader reader;
    http::response res_kept;
    std::vector<std::error_code> results;
    srv->on_request_stream(
        [&](const http::request_view&, http::body_reader& body, http::response& res) {
            reader = std::move(body);
            res_kept = std::move(res);
            reader.read([&](std::error_code ec, std::string_view) { results.push_back(ec); });
        });
    REQUIRE_FALSE(srv->listen(sluice::endpoint::loopback_v4(0)));
    std::error_code ec;
    raw_client c(loop, srv->local_endpoint(ec).port());
    c.send(post_head("/x", 1000));
    REQUIRE(loop.run_until([&] { return static_cast<bool>(reader); }));
    loop.run_for(10ms);
    CHECK(results.empty());
    srv.reset();
    CHECK(results.empty()); // not inside the destructor
    REQUIRE(loop.run_until([&] { return !results.empty(); }));
    loop.run_for(10ms);
    REQUIRE(results.size() == 1);
    CHECK(results[0] == sluice::error::operation_aborted);
    // The kept handles are inert.
    CHECK_FALSE(res_kept.is_open());
    reader.read([&](std::error_code e, std::string_view) { results.push_back(e); });
    REQUIRE(loop.run_until([&] { return results.size() == 2; }));
    CHECK(results[1] == sluice::error::operation_aborted);
    REQUIRE(loop.run_until([&] { return c.closed; }));
}

TEST_CASE("streamed body: a client that stops sending is timed out while a read waits") {
    http::server_settings s;
    s.idle_timeout = 150ms;
    test::http_fixture f(s);
    std::error_code result;
    bool done = false;
    http::body_reader reader;
    http::response res_kept;
    f.server.on_request_stream(
        [&](const http::request_view&, http::body_reader& body, http::response& res) {
            reader = std::move(body);
            res_kept = std::move(res);
            reader.read([&](std::error_code ec, std::string_view) {
                result = ec;
                done = true;
            });
        });
    f.listen();
    raw_client c(f.loop, f.port);
    c.send(post_head("/x", 1000));
    REQUIRE(f.loop.run_until([&] { return done; }, 5000ms));
    CHECK(result == sluice::error::timed_out);
    REQUIRE(f.loop.run_until([&] { return c.closed; }));
}

TEST_CASE("buffered body: over max_buffered_body is 413, before the body when the length says so") {
    http::server_settings s;
    s.max_buffered_body = 16;
    test::http_fixture f(s);
    int handled = 0;
    f.server.on_request([&](const http::request_view& req, http::response& res) {
        ++handled;
        res.end(req.body());
    });
    f.listen();
    {
        raw_client c(f.loop, f.port);
        c.send(post_head("/ok", 16) + std::string(16, 'k'));
        REQUIRE(f.loop.run_until([&] { return parse_responses(c.in).size() == 1; }));
        CHECK(parse_responses(c.in)[0].body == std::string(16, 'k'));
    }
    {
        raw_client c(f.loop, f.port);
        c.send(post_head("/big", 17, "Expect: 100-continue\r\n"));
        REQUIRE(f.loop.run_until([&] { return c.closed; }));
        auto r = parse_responses(c.in);
        REQUIRE(r.size() == 1);
        CHECK(r[0].status == 413);
        CHECK(r[0].get("Connection") == "close");
        CHECK(c.in.find("100 Continue") == std::string::npos);
    }
    {
        raw_client c(f.loop, f.port);
        c.send(chunked_head("/big") + chunk("0123456789") + chunk("0123456789"));
        REQUIRE(f.loop.run_until([&] { return c.closed; }));
        auto r = parse_responses(c.in);
        REQUIRE(r.size() == 1);
        CHECK(r[0].status == 413);
    }
    CHECK(handled == 1);
}

TEST_CASE("streamed body: cancel() ends the pending read; the body can be read on") {
    test::http_fixture f;
    http::body_reader reader;
    http::response res_kept;
    std::vector<std::error_code> results;
    std::string got;
    f.server.on_request_stream(
        [&](const http::request_view&, http::body_reader& body, http::response& res) {
            reader = std::move(body);
            res_kept = std::move(res);
            reader.read([&](std::error_code ec, std::string_view) { results.push_back(ec); });
            CHECK(reader.cancel());
            CHECK_FALSE(reader.cancel());
        });
    f.listen();
    raw_client c(f.loop, f.port);
    c.send(post_head("/x", 6));
    REQUIRE(f.loop.run_until([&] { return results.size() == 1; }));
    CHECK(results[0] == sluice::error::operation_aborted);
    std::function<void()> more = [&] {
        reader.read([&](std::error_code ec, std::string_view d) {
            if (ec) return res_kept.end(ec == sluice::error::eof ? got : "error");
            got.append(d.data(), d.size());
            more();
        });
    };
    more();
    c.send("abcdef");
    REQUIRE(f.loop.run_until([&] { return parse_responses(c.in).size() == 1; }));
    CHECK(parse_responses(c.in)[0].body == "abcdef");
    CHECK_FALSE(c.closed);
}

TEST_CASE("streamed body: stop() lets a body being read finish, then closes") {
    test::http_fixture f;
    http::body_reader reader;
    http::response res_kept;
    std::string got;
    bool stopped = false;
    std::function<void()> more = [&] {
        reader.read([&](std::error_code ec, std::string_view d) {
            if (ec) return res_kept.end(ec == sluice::error::eof ? got : "error");
            got.append(d.data(), d.size());
            more();
        });
    };
    f.server.on_request_stream(
        [&](const http::request_view&, http::body_reader& body, http::response& res) {
            reader = std::move(body);
            res_kept = std::move(res);
            more();
        });
    f.listen();
    raw_client c(f.loop, f.port);
    c.send(post_head("/x", 8) + "abcd");
    REQUIRE(f.loop.run_until([&] { return got == "abcd"; }));
    f.server.stop(5s);
    stopped = true;
    f.loop.run_for(10ms);
    CHECK_FALSE(c.closed);
    c.send("efgh");
    REQUIRE(f.loop.run_until([&] { return c.closed; }));
    auto r = parse_responses(c.in);
    REQUIRE(r.size() == 1);
    CHECK(r[0].body == "abcdefgh");
    CHECK(r[0].get("Connection") == "close");
    CHECK(stopped);
}
