// Standalone asio echo peer in C++20 coroutine style (co_spawn + use_awaitable).
// Usage: asio_coro_echo --port P
#include <asio.hpp>

#include <cstdlib>
#include <cstring>

using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;

static awaitable<void> echo(tcp::socket s) {
    char data[65536];
    for (;;) {
        std::size_t n = co_await s.async_read_some(asio::buffer(data), use_awaitable);
        co_await asio::async_write(s, asio::buffer(data, n), use_awaitable);
    }
}

static awaitable<void> listen(tcp::acceptor a) {
    for (;;) {
        tcp::socket s = co_await a.async_accept(use_awaitable);
        s.set_option(tcp::no_delay(true));
        asio::co_spawn(a.get_executor(), echo(std::move(s)), asio::detached);
    }
}

int main(int argc, char** argv) {
    unsigned short port = 7000;
    for (int i = 1; i + 1 < argc; i += 2)
        if (!std::strcmp(argv[i], "--port")) port = static_cast<unsigned short>(std::atoi(argv[i + 1]));
    asio::io_context io(1);
    asio::co_spawn(io, listen(tcp::acceptor(io, tcp::endpoint(tcp::v4(), port))), asio::detached);
    io.run();
}
