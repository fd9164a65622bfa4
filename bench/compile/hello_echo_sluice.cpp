// Compile-time and size probe: a minimal TCP echo server on sluice (the single
// header), the twin of hello_echo_asio.cpp. Listens on 127.0.0.1, echoes every byte
// back, stops on SIGINT/SIGTERM.
//   hello_echo_sluice [port]   (default 7000)
#include <sluice.hpp>

#include <csignal>
#include <cstdlib>

int main(int argc, char** argv) {
    auto port = static_cast<std::uint16_t>(argc > 1 ? std::atoi(argv[1]) : 7000);
    sluice::loop loop;
    sluice::tcp_listener listener(loop);
    if (listener.listen(sluice::endpoint::loopback_v4(port))) return 1;
    listener.accept_each([](std::error_code ec, sluice::tcp_stream s) {
        if (ec) return;
        auto* conn = new sluice::tcp_stream(std::move(s));
        conn->read_start([conn](std::error_code ec, std::string_view data) {
            if (ec) return delete conn; // eof, reset or closed
            conn->write(data);          // what the kernel does not take now is queued
        });
    });
    loop.on_signal(SIGINT, [&](int) { loop.stop(); });
    loop.on_signal(SIGTERM, [&](int) { loop.stop(); });
    loop.run();
}
