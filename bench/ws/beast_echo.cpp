// Boost.Beast WebSocket echo peer: one thread, one io_context, callback-style async
// operations; each message is read whole into a flat_buffer and written back with the
// opcode it arrived with. Listens on 127.0.0.1 only.
// Usage: beast_echo --port P
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <cstdlib>
#include <cstring>
#include <memory>

namespace beast = boost::beast;
namespace net = boost::asio;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;

namespace {

class session : public std::enable_shared_from_this<session> {
  public:
    explicit session(tcp::socket s) : ws_(std::move(s)) {}

    void start() {
        websocket::permessage_deflate pmd;
        pmd.server_enable = false; // the default already, stated because it is the comparison
        ws_.set_option(pmd);
        ws_.read_message_max(std::size_t{16} << 20);
        // Beast splits outgoing messages into frames of its 4 KiB write buffer by default,
        // which would send a 16 KiB echo as four frames and four writes; one frame per
        // message is what the other servers do.
        ws_.auto_fragment(false);
        ws_.async_accept([self = shared_from_this()](beast::error_code ec) {
            if (!ec) self->read();
        });
    }

  private:
    void read() {
        ws_.async_read(buf_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
            if (!ec) self->echo();
        });
    }

    void echo() {
        ws_.text(ws_.got_text());
        ws_.async_write(buf_.data(),
                        [self = shared_from_this()](beast::error_code ec, std::size_t) {
                            if (ec) return;
                            self->buf_.consume(self->buf_.size());
                            self->read();
                        });
    }

    websocket::stream<tcp::socket> ws_;
    beast::flat_buffer buf_;
};

void accept(tcp::acceptor& a) {
    a.async_accept([&a](beast::error_code ec, tcp::socket s) {
        if (!ec) {
            s.set_option(tcp::no_delay(true));
            std::make_shared<session>(std::move(s))->start();
        }
        accept(a);
    });
}

} // namespace

int main(int argc, char** argv) {
    unsigned short port = 7000;
    for (int i = 1; i + 1 < argc; i += 2)
        if (!std::strcmp(argv[i], "--port"))
            port = static_cast<unsigned short>(std::atoi(argv[i + 1]));
    net::io_context io(1);
    tcp::acceptor acceptor(io);
    const tcp::endpoint ep(net::ip::make_address_v4("127.0.0.1"), port);
    acceptor.open(ep.protocol());
    acceptor.set_option(net::socket_base::reuse_address(true));
    acceptor.bind(ep);
    acceptor.listen(net::socket_base::max_listen_connections);
    accept(acceptor);
    io.run();
}
