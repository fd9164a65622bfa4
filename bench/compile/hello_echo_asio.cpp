// Compile-time and size probe: a minimal TCP echo server on standalone asio (C++17
// callbacks), the twin of hello_echo_sluice.cpp. Listens on 127.0.0.1, echoes every
// byte back, stops on SIGINT/SIGTERM.
//   hello_echo_asio [port]   (default 7000)
#include <asio.hpp>

#include <csignal>
#include <cstdlib>
#include <memory>

using asio::ip::tcp;

struct session : std::enable_shared_from_this<session> {
    explicit session(tcp::socket s) : socket(std::move(s)) {}
    void read() {
        auto self = shared_from_this(); // the last handler holding it frees the session
        socket.async_read_some(asio::buffer(buf), [self](std::error_code ec, std::size_t n) {
            if (!ec) self->write(n); // eof, reset or closed: stop
        });
    }
    void write(std::size_t n) {
        auto self = shared_from_this();
        asio::async_write(socket, asio::buffer(buf, n), [self](std::error_code ec, std::size_t) {
            if (!ec) self->read();
        });
    }
    tcp::socket socket;
    char buf[16384];
};

static void accept_each(tcp::acceptor& acceptor) {
    acceptor.async_accept([&acceptor](std::error_code ec, tcp::socket s) {
        if (!ec) std::make_shared<session>(std::move(s))->read();
        accept_each(acceptor);
    });
}

int main(int argc, char** argv) try {
    auto port = static_cast<unsigned short>(argc > 1 ? std::atoi(argv[1]) : 7000);
    asio::io_context io(1);
    tcp::acceptor acceptor(io, {asio::ip::make_address_v4("127.0.0.1"), port}); // reuse_address
    accept_each(acceptor);
    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](std::error_code, int) { io.stop(); });
    io.run();
} catch (const std::exception&) { // the port is taken, or no socket could be made
    return 1;
}
