// Boost.Beast WebSocket fan-out peer of bench/ws/sluice_fanout.cpp, same protocol:
//   GET /sub  upgrade, join the subscriber set, then a text message "subscribed"
//   GET /pub  upgrade; every message received goes to every subscriber with its own opcode
// The broadcast is hand-rolled the way Beast's chat examples do it: one set of sessions,
// each message copied once into a std::shared_ptr<std::string const>, that pointer queued on
// every subscriber's own write queue, and one async_write at a time per session. One thread,
// one io_context, callbacks; 127.0.0.1 only. Queues are unbounded (Beast has no send limit):
// the load generator keeps at most a few messages in flight.
//
//   beast_fanout --port P
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <sys/resource.h>

#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <unordered_set>

namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace net = boost::asio;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;

namespace {

class session;
std::unordered_set<session*> subscribers; // one thread: no lock, no strand

struct outgoing {
    std::shared_ptr<std::string const> bytes;
    bool text;
};

class session : public std::enable_shared_from_this<session> {
  public:
    explicit session(tcp::socket s) : ws_(std::move(s)) {}
    ~session() { subscribers.erase(this); }

    void start() {
        // The HTTP request first, to see which path it asks for.
        bhttp::async_read(ws_.next_layer(), buf_, req_,
                          [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              if (!ec) self->accept();
                          });
    }

    // Queues one message; at most one async_write is in progress per session.
    void send(const outgoing& m) {
        queue_.push_back(m);
        if (queue_.size() == 1) write_front();
    }

  private:
    void accept() {
        if (!websocket::is_upgrade(req_)) return; // the generator only sends upgrades
        websocket::permessage_deflate pmd;
        pmd.server_enable = false;
        ws_.set_option(pmd);
        ws_.read_message_max(std::size_t{16} << 20);
        ws_.auto_fragment(false); // one frame per message, as sluice sends
        ws_.async_accept(req_, [self = shared_from_this()](beast::error_code ec) {
            if (ec) return;
            if (self->req_.target() == "/sub") {
                subscribers.insert(self.get());
                self->send({std::make_shared<std::string const>("subscribed"), true});
                self->publisher_ = false;
            } else {
                self->publisher_ = self->req_.target() == "/pub";
            }
            self->req_ = {};
            self->read();
        });
    }

    // Subscribers keep a read going too: that is where Beast answers pings and close frames.
    void read() {
        ws_.async_read(buf_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
            if (ec) return;
            if (self->publisher_) self->publish();
            self->buf_.consume(self->buf_.size());
            self->read();
        });
    }

    void publish() {
        outgoing m{std::make_shared<std::string const>(beast::buffers_to_string(buf_.data())),
                   ws_.got_text()};
        // async_write never completes inside send(), so the set does not change meanwhile.
        for (session* s : subscribers) s->send(m);
    }

    void write_front() {
        ws_.text(queue_.front().text);
        ws_.async_write(net::buffer(*queue_.front().bytes),
                        [self = shared_from_this()](beast::error_code ec, std::size_t) {
                            if (ec) return;
                            self->queue_.pop_front();
                            if (!self->queue_.empty()) self->write_front();
                        });
    }

    websocket::stream<tcp::socket> ws_;
    beast::flat_buffer buf_;
    bhttp::request<bhttp::string_body> req_;
    std::deque<outgoing> queue_;
    bool publisher_ = false;
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
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
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
