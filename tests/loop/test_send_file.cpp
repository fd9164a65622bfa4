// stream::send_file_now (Linux sendfile(2)) and stream::on_flushed: file bytes never jump
// ahead of queued writes, on_flushed waits for the queue to empty, and the peer receives
// every byte in order. Elsewhere send_file_now takes nothing (callers write instead).
#include "common.hpp"

#include <sluice/platform/file.hpp>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>

namespace fs = std::filesystem;

namespace {

struct temp_file {
    fs::path path;
    std::string bytes;
    explicit temp_file(std::size_t n) {
        std::random_device rd;
        path = fs::temp_directory_path() / ("sluice_send_file_" + std::to_string(rd()));
        std::mt19937 gen(3);
        bytes.resize(n);
        for (char& c : bytes) c = static_cast<char>('a' + gen() % 26);
        std::ofstream(path, std::ios::binary) << bytes;
    }
    ~temp_file() {
        std::error_code ec;
        fs::remove(path, ec);
    }
};

} // namespace

TEST_CASE("send_file_now: after queued writes only, in order; on_flushed waits for the queue") {
    test::bounded_loop loop;
    test::stream_pair p(loop);
    temp_file f(3u << 20);
    sluice::platform::read_file file;
    REQUIRE_FALSE(file.open(f.path.string()));

    // More than the socket buffers hold: most of it stays queued while the client waits.
    const std::string head(4u << 20, 'H');
    p.served.write(head);
    REQUIRE(p.served.buffered_amount() > 0);
    // Bytes queued: the file must not go first.
    CHECK(p.served.send_file_now(file.native(), 0, f.bytes.size()) == 0);

    std::string got;
    p.client.read_start([&](std::error_code ec, std::string_view d) {
        REQUIRE_FALSE(ec);
        got.append(d.data(), d.size());
    });
    std::uint64_t offset = 0;
    int flushed_calls = 0;
    bool idle_when_flushed = true;
    std::function<void()> more = [&] {
        ++flushed_calls;
        idle_when_flushed = idle_when_flushed && p.served.buffered_amount() == 0;
        while (offset < f.bytes.size()) {
            const long long n =
                p.served.send_file_now(file.native(), offset, f.bytes.size() - offset);
            REQUIRE(n >= 0);
#if SLUICE_HAS_SENDFILE
            if (n == 0) { // the socket is full: one copied piece, then wait for the queue
                const std::size_t piece = std::min<std::size_t>(16384, f.bytes.size() - offset);
                p.served.write(std::string_view(f.bytes).substr(offset, piece));
                offset += piece;
                p.served.on_flushed(more);
                return;
            }
            offset += static_cast<std::uint64_t>(n);
#else
            CHECK(n == 0); // no sendfile here: the caller writes
            p.served.write(std::string_view(f.bytes).substr(offset));
            offset = f.bytes.size();
#endif
        }
    };
    p.served.on_flushed(more);
    REQUIRE(loop.run_until([&] { return got.size() == head.size() + f.bytes.size(); }));
    CHECK(flushed_calls >= 1);
    CHECK(idle_when_flushed); // on_flushed ran only with nothing queued
    CHECK(got.substr(0, head.size()) == head);
    CHECK(got.substr(head.size()) == f.bytes); // every byte, in order, nothing in between
}

TEST_CASE("send_file_now: a stream that is not connected takes nothing; on_flushed with nothing queued") {
    test::bounded_loop loop;
    sluice::tcp_stream s(loop);
    temp_file f(10);
    sluice::platform::read_file file;
    REQUIRE_FALSE(file.open(f.path.string()));
    CHECK(s.send_file_now(file.native(), 0, 10) == 0);
    bool called = false;
    s.on_flushed([&] { called = true; });
    CHECK_FALSE(called); // never from inside on_flushed()
    REQUIRE(loop.run_until([&] { return called; })); // nothing queued: the next turn
}

TEST_CASE("send_file_now: with room in the socket but bytes still queued, the file waits") {
    test::bounded_loop loop;
    sluice::tcp_listener listener(loop);
    const auto port = test::listen_loopback(listener);
    sluice::tcp_stream served;
    listener.accept([&](std::error_code ec, sluice::tcp_stream s) {
        REQUIRE_FALSE(ec);
        served = std::move(s);
    });
    auto client = test::portable::connect_loopback(port);
    REQUIRE(client != test::portable::bad_socket);
    REQUIRE(loop.run_until([&] { return served.is_open(); }));
    temp_file f(1000);
    sluice::platform::read_file file;
    REQUIRE_FALSE(file.open(f.path.string()));

    served.write(std::string(8u << 20, 'H'));
    REQUIRE(served.buffered_amount() > 0);
    // The client reads while the loop does not run: the socket has room again, the
    // queue is not flushed yet. The file's bytes must still not go ahead of it.
    REQUIRE(test::portable::set_recv_timeout(client, std::chrono::seconds(20)));
    std::string buf(1u << 20, '\0');
    std::size_t read_now = 0;
    while (read_now < (1u << 20)) {
        const long n = test::portable::recv_some(client, &buf[0], buf.size());
        REQUIRE(n > 0);
        read_now += static_cast<std::size_t>(n);
    }
    CHECK(served.send_file_now(file.native(), 0, 1000) == 0);
    test::portable::close_socket(client);
}

TEST_CASE("send_file_now to a peer that closed: the stream fails, no SIGPIPE kills the process") {
    test::bounded_loop loop;
    sluice::tcp_listener listener(loop);
    const auto port = test::listen_loopback(listener);
    sluice::tcp_stream served;
    listener.accept([&](std::error_code ec, sluice::tcp_stream s) {
        REQUIRE_FALSE(ec);
        served = std::move(s);
    });
    auto client = test::portable::connect_loopback(port);
    REQUIRE(client != test::portable::bad_socket);
    REQUIRE(loop.run_until([&] { return served.is_open(); }));
    temp_file f(64 * 1024);
    sluice::platform::read_file file;
    REQUIRE_FALSE(file.open(f.path.string()));
    test::portable::close_socket(client); // a FIN; the first bytes sent get a reset back
#if SLUICE_HAS_SENDFILE
    bool failed = false;
    served.on_error([&](std::error_code) { failed = true; });
    long long last = 0;
    REQUIRE(loop.run_until([&] {
        if (served.is_open()) last = served.send_file_now(file.native(), 0, f.bytes.size());
        return !served.is_open();
    }));
    CHECK(last == -1);
    CHECK(loop.run_until([&] { return failed; })); // on_error hears it, from the loop
#else
    CHECK(served.send_file_now(file.native(), 0, f.bytes.size()) == 0);
#endif
}
