// Standalone asio echo peer, callback style (the classic async_tcp_echo_server
// shape): a per-session 64 KiB buffer, async_read_some then async_write.
// Usage: asio_echo --port P
#include <asio.hpp>

#include <cstdlib>
#include <cstring>
#include <memory>

using asio::ip::tcp;

class session : public std::enable_shared_from_this<session> {
  public:
    explicit session(tcp::socket s) : socket_(std::move(s)) {}
    void start() { read(); }

  private:
    void read() {
        auto self = shared_from_this();
        socket_.async_read_some(asio::buffer(data_), [this, self](std::error_code ec, std::size_t n) {
            if (!ec) write(n);
        });
    }
    void write(std::size_t n) {
        auto self = shared_from_this();
        asio::async_write(socket_, asio::buffer(data_, n), [this, self](std::error_code ec, std::size_t) {
            if (!ec) read();
        });
    }
    tcp::socket socket_;
    char data_[65536];
};

static void accept(tcp::acceptor& a) {
    a.async_accept([&a](std::error_code ec, tcp::socket s) {
        if (!ec) {
            s.set_option(tcp::no_delay(true));
            std::make_shared<session>(std::move(s))->start();
        }
        accept(a);
    });
}

int main(int argc, char** argv) {
    unsigned short port = 7000;
    for (int i = 1; i + 1 < argc; i += 2)
        if (!std::strcmp(argv[i], "--port")) port = static_cast<unsigned short>(std::atoi(argv[i + 1]));
    asio::io_context io(1);
    tcp::acceptor acceptor(io, tcp::endpoint(tcp::v4(), port));
    accept(acceptor);
    io.run();
}
