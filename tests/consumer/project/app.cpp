// A consumer of the installed/embedded library: one TCP round trip on loopback.
#include <sluice.hpp>

#include <cstdio>

int main() {
    sluice::loop loop;
    sluice::tcp_listener listener(loop);
    if (listener.listen(sluice::endpoint::loopback_v4(0))) return 1;
    std::error_code ec;
    auto port = listener.local_endpoint(ec).port();
    sluice::tcp_stream server_side, client(loop);
    std::string got;
    listener.accept([&](std::error_code e, sluice::tcp_stream s) {
        if (e) return;
        server_side = std::move(s);
        server_side.read_start([&](std::error_code e2, std::string_view d) {
            if (!e2) server_side.write(d);
        });
    });
    client.connect(sluice::endpoint::loopback_v4(port), [&](std::error_code e) {
        if (e) return;
        client.write("hello from a consumer");
        client.read_start([&](std::error_code e2, std::string_view d) {
            if (e2) return;
            got.append(d);
            if (got.size() == 21) loop.stop();
        });
    });
    loop.run_for(std::chrono::seconds(10));
    std::printf("sluice %s: echoed \"%s\"\n", SLUICE_VERSION_STRING, got.c_str());
    return got == "hello from a consumer" ? 0 : 1;
}
