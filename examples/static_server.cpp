// Serves a directory over HTTP/1.1 with http::static_files: GET and HEAD, ETag and
// Last-Modified (304), single byte ranges (206/416), index.html for directories, and
// no path that leaves the root (see include/sluice/http/static_files.hpp).
// --prefix /p serves the directory under /p only (a mounted router); the default is /.
// Prints "static_server: listening on port N" (N is the real port with --port 0).
// SIGINT and SIGTERM stop it.
//
//   static_server --root DIR [--port 8080] [--prefix /p]
//                 [--backend epoll|io_uring|poll|select]
#include <sluice.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace http = sluice::http;

int main(int argc, char** argv) {
    std::uint16_t port = 8080;
    std::string root, prefix;
    sluice::backend backend = sluice::backend::automatic;
    for (int i = 1; i < argc; i += 2) {
        const char* value = i + 1 < argc ? argv[i + 1] : "";
        if (!std::strcmp(argv[i], "--port") && *value)
            port = static_cast<std::uint16_t>(std::atoi(value));
        else if (!std::strcmp(argv[i], "--root") && *value)
            root = value;
        else if (!std::strcmp(argv[i], "--prefix") && *value == '/')
            prefix = value;
        else if (!(!std::strcmp(argv[i], "--backend") && sluice::parse_backend(value, backend))) {
            std::fprintf(stderr, "usage: static_server --root DIR [--port P] [--prefix /p] "
                                 "[--backend epoll|io_uring|poll|select]\n");
            return 2;
        }
    }
    if (root.empty()) {
        std::fprintf(stderr, "static_server: --root DIR is required\n");
        return 2;
    }
    http::static_files files(root);
    if (!files.usable()) {
        std::fprintf(stderr, "static_server: %s is not a directory we can resolve\n", root.c_str());
        return 1;
    }

    sluice::loop l(backend);
    http::server server(l);
    http::router r;
    if (prefix.empty() || prefix == "/") {
        r.get("/{path...}", files);
        r.get("/", files);
    } else {
        http::router sub; // "/p/x" is "/x" there, "/p" itself is its "/"
        sub.get("/{path...}", files);
        sub.get("/", files);
        r.mount(prefix, std::move(sub));
    }
    if (auto ec = r.error()) {
        std::fprintf(stderr, "static_server: routes: %s\n", ec.message().c_str());
        return 1;
    }
    r.attach(server);
    if (auto ec = server.listen(sluice::endpoint::any_v4(port))) {
        std::fprintf(stderr, "static_server: listen on port %u: %s\n", port, ec.message().c_str());
        return 1;
    }
    std::error_code ec;
    const sluice::endpoint bound = server.local_endpoint(ec);
    l.on_signal(SIGINT, [&](int) { l.stop(); });
    l.on_signal(SIGTERM, [&](int) { l.stop(); });
    std::printf("static_server: listening on port %u, backend %s\n", ec ? port : bound.port(),
                l.backend_name());
    std::fflush(stdout);
    l.run();
    return 0;
}
