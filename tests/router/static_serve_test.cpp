// http::static_files on a real server (loopback), on every platform the suite runs on
// (the real-clients script is Linux-only): a directory's index.html, a body far larger
// than the chunk and the write watermarks (the drain path), ranges, pipelined answers in
// order, a mount under a prefix, and, used directly as the server's handler (no router
// to reject a path first), the encoded escapes refused by static_files itself.
#include "../http_server/common.hpp"

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace http = sluice::http;
namespace fs = std::filesystem;
using test::parse_responses;
using test::raw_client;

namespace {

struct temp_root {
    fs::path dir;
    std::string big;
    temp_root() {
        std::random_device rd;
        dir = fs::temp_directory_path() / ("sluice_static_" + std::to_string(rd()));
        fs::create_directories(dir / "root" / "sub");
        std::mt19937 gen(7);
        big.resize(300 * 1000 + 3);
        for (char& c : big) c = static_cast<char>(gen() & 0xff);
        std::ofstream(dir / "root" / "big.bin", std::ios::binary) << big;
        std::ofstream(dir / "root" / "sub" / "index.html", std::ios::binary) << "<p>sub</p>";
        std::ofstream(dir / "secret.txt", std::ios::binary) << "SECRET";
    }
    ~temp_root() {
        std::error_code ec;
        fs::remove_all(dir, ec);
    }
    std::string root() const { return (dir / "root").string(); }
};

std::vector<test::parsed_response> exchange(test::http_fixture& f, const std::string& wire,
                                            std::size_t count,
                                            std::vector<http::verb> verbs = {}) {
    raw_client c(f.loop, f.port);
    c.send(wire);
    std::vector<test::parsed_response> got;
    f.loop.run_until([&] {
        got = parse_responses(c.in, verbs);
        return got.size() >= count;
    });
    return got;
}

http::server_settings small_queue() {
    http::server_settings s;
    s.write.low_watermark = 4 * 1024; // the file goes out through many drains
    s.write.high_watermark = 16 * 1024;
    return s;
}

} // namespace

TEST_CASE("static files on a server: index, a large body through drains, ranges, pipelining") {
    temp_root t;
    test::http_fixture f(small_queue());
    http::static_settings st;
    st.chunk_size = 4096;
    http::router files;
    REQUIRE_FALSE(files.get("/{path...}", http::static_files(t.root(), st)));
    http::router r;
    REQUIRE_FALSE(r.mount("/files", std::move(files)));
    r.attach(f.server);
    f.listen();

    const std::string wire = "GET /files/sub/ HTTP/1.1\r\nHost: t\r\n\r\n"
                             "GET /files/big.bin HTTP/1.1\r\nHost: t\r\n\r\n"
                             "GET /files/big.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=5000-\r\n\r\n"
                             "HEAD /files/big.bin HTTP/1.1\r\nHost: t\r\n\r\n"
                             "GET /files/big.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=-10\r\n\r\n"
                             "GET /files/sub HTTP/1.1\r\nHost: t\r\n\r\n";
    auto got = exchange(f, wire, 6,
                        {http::verb::get, http::verb::get, http::verb::get, http::verb::head,
                         http::verb::get, http::verb::get});
    REQUIRE(got.size() == 6);
    CHECK(got[0].status == 200);
    CHECK(got[0].body == "<p>sub</p>");
    CHECK(got[0].get("Content-Type") == "text/html; charset=utf-8");
    CHECK(got[1].status == 200);
    CHECK(got[1].body.size() == t.big.size());
    CHECK(got[1].body == t.big);
    CHECK(got[2].status == 206);
    CHECK(got[2].get("Content-Range") == "bytes 5000-300002/300003");
    CHECK(got[2].body == t.big.substr(5000));
    CHECK(got[3].status == 200);
    CHECK(got[3].get("Content-Length") == "300003");
    CHECK(got[3].body.empty());
    CHECK(got[4].status == 206);
    CHECK(got[4].body == t.big.substr(t.big.size() - 10));
    CHECK(got[5].status == 301);
    CHECK(got[5].get("Location") == "/files/sub/");
}

TEST_CASE("static files as the server's handler: encoded escapes refused, 405, 304") {
    temp_root t;
    test::http_fixture f;
    f.server.on_request(http::static_files(t.root()));
    f.listen();
    for (const char* target :
         {"/../secret.txt", "/%2e%2e/secret.txt", "/%2E%2e/secret.txt", "/..%2fsecret.txt",
          "/..%5csecret.txt", "/sub/%2e%2e/%2e%2e/secret.txt", "/big.bin%00", "/..\\secret.txt"}) {
        INFO(target);
        auto got = exchange(f, std::string("GET ") + target + " HTTP/1.1\r\nHost: t\r\n\r\n", 1);
        REQUIRE(got.size() == 1);
        CHECK((got[0].status == 404 || got[0].status == 400));
        CHECK(got[0].body.find("SECRET") == std::string::npos);
    }
    auto got = exchange(f, "POST /big.bin HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", 1);
    REQUIRE(got.size() == 1);
    CHECK(got[0].status == 405);
    CHECK(got[0].get("Allow") == "GET, HEAD");

    got = exchange(f, "GET /big.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=0-0\r\n\r\n", 1);
    REQUIRE(got.size() == 1);
    const std::string etag = got[0].get("ETag");
    const std::string modified = got[0].get("Last-Modified");
    REQUIRE(!etag.empty());
    got = exchange(f,
                   "GET /big.bin HTTP/1.1\r\nHost: t\r\nIf-None-Match: " + etag +
                       "\r\n\r\nGET /big.bin HTTP/1.1\r\nHost: t\r\nIf-Modified-Since: " +
                       modified + "\r\n\r\n",
                   2);
    REQUIRE(got.size() == 2);
    CHECK(got[0].status == 304);
    CHECK(got[1].status == 304);
}
