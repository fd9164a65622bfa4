// Boost.Beast WebSocket echo peer: one thread, one io_context, callback-style async
// operations; each message is read whole into a flat_buffer and written back with the
// opcode it arrived with. Listens on 127.0.0.1 only.
//
// --deflate on: permessage-deflate for clients that offer it, set up like sluice's ws_echo
// --deflate on (sluice's ws::deflate_settings defaults): window 15 both ways, memLevel 8,
// compression level 6 (zlib's default, which sluice's -1 means; Beast's own defaults are 8
// and 4), context takeover unless the client asks for none, as ws_echo does. Beast deflates
// with its own port of zlib (boost/beast/zlib), not the system's. Its compressed writes go out
// in frames of the write buffer (4 KiB by default) whatever auto_fragment says; the buffer is
// raised to 64 KiB so that a message is one frame, as it is from sluice.
// Usage: beast_echo --port P [--deflate on|off]
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <cstdio>
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
    session(tcp::socket s, bool deflate) : ws_(std::move(s)), deflate_(deflate) {}

    void start() {
        websocket::permessage_deflate pmd;
        pmd.server_enable = deflate_; // off by default, stated because it is the comparison
        if (deflate_) {
            pmd.server_max_window_bits = 15;
            pmd.client_max_window_bits = 15;
            pmd.server_no_context_takeover = false; // the client decides, as with sluice
            pmd.client_no_context_takeover = false;
            pmd.compLevel = 6;
            pmd.memLevel = 8;
            ws_.write_buffer_bytes(std::size_t{64} << 10);
        }
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
    bool deflate_;
};

void accept(tcp::acceptor& a, bool deflate) {
    a.async_accept([&a, deflate](beast::error_code ec, tcp::socket s) {
        if (!ec) {
            s.set_option(tcp::no_delay(true));
            std::make_shared<session>(std::move(s), deflate)->start();
        }
        accept(a, deflate);
    });
}

} // namespace

int main(int argc, char** argv) {
    unsigned short port = 7000;
    bool deflate = false;
    for (int i = 1; i < argc; i += 2) {
        const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
        if (v && !std::strcmp(argv[i], "--port"))
            port = static_cast<unsigned short>(std::atoi(v));
        else if (v && !std::strcmp(argv[i], "--deflate") &&
                 (!std::strcmp(v, "on") || !std::strcmp(v, "off")))
            deflate = !std::strcmp(v, "on");
        else {
            std::fprintf(stderr, "usage: beast_echo [--port P] [--deflate on|off]\n");
            return 2;
        }
    }
    net::io_context io(1);
    tcp::acceptor acceptor(io);
    const tcp::endpoint ep(net::ip::make_address_v4("127.0.0.1"), port);
    acceptor.open(ep.protocol());
    acceptor.set_option(net::socket_base::reuse_address(true));
    acceptor.bind(ep);
    acceptor.listen(net::socket_base::max_listen_connections);
    accept(acceptor, deflate);
    io.run();
}
