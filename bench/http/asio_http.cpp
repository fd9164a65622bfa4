// Standalone asio plaintext peer, callback style: a 4 KiB input buffer per session (a
// request split across reads stays in it), requests framed by "\r\n\r\n", all responses
// of one read appended to one reused string and sent with one async_write, then the next
// async_read_some. The Date header is rebuilt by a 1 s steady_timer.
// Usage: asio_http --port P
#include <asio.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <string_view>

using asio::ip::tcp;

static std::string ok;
static constexpr std::string_view not_found = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";

static void refresh_date(asio::steady_timer& t) {
    std::time_t now = std::time(nullptr);
    std::tm tm;
    char date[64];
    std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&now, &tm));
    ok = std::string("HTTP/1.1 200 OK\r\nServer: asio\r\nDate: ") + date +
         "\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";
    t.expires_after(std::chrono::seconds(1));
    t.async_wait([&t](std::error_code ec) {
        if (!ec) refresh_date(t);
    });
}

class session : public std::enable_shared_from_this<session> {
  public:
    explicit session(tcp::socket s) : socket_(std::move(s)) {}
    void read() {
        socket_.async_read_some(
            asio::buffer(in_ + len_, sizeof in_ - len_),
            [this, self = shared_from_this()](std::error_code ec, std::size_t n) {
                if (!ec) respond(n);
            });
    }

  private:
    void respond(std::size_t n) {
        len_ += n;
        std::string_view in(in_, len_);
        std::size_t start = 0, end;
        out_.clear();
        while ((end = in.find("\r\n\r\n", start)) != std::string_view::npos) {
            bool hit = end - start >= 15 && in.substr(start, 15) == "GET /plaintext ";
            out_ += hit ? std::string_view(ok) : not_found;
            start = end + 4;
        }
        std::memmove(in_, in_ + start, len_ - start);
        len_ -= start;
        if (len_ == sizeof in_) return; // a 4 KiB request head, not from wrk: drop it
        if (out_.empty()) return read();
        asio::async_write(socket_, asio::buffer(out_),
                          [this, self = shared_from_this()](std::error_code ec, std::size_t) {
                              if (!ec) read();
                          });
    }
    tcp::socket socket_;
    std::size_t len_ = 0;
    char in_[4096];
    std::string out_;
};

static void accept(tcp::acceptor& a) {
    a.async_accept([&a](std::error_code ec, tcp::socket s) {
        if (!ec) {
            s.set_option(tcp::no_delay(true));
            std::make_shared<session>(std::move(s))->read();
        }
        accept(a);
    });
}

int main(int argc, char** argv) {
    unsigned short port = 8080;
    for (int i = 1; i + 1 < argc; i += 2)
        if (!std::strcmp(argv[i], "--port"))
            port = static_cast<unsigned short>(std::atoi(argv[i + 1]));
    std::signal(SIGPIPE, SIG_IGN);
    asio::io_context io(1);
    asio::steady_timer date(io);
    refresh_date(date);
    std::error_code ec;
    tcp::acceptor acceptor(io);
    tcp::endpoint ep(tcp::v4(), port);
    acceptor.open(ep.protocol(), ec);
    if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor.bind(ep, ec);
    if (!ec) acceptor.listen(1024, ec);
    if (ec) {
        std::fprintf(stderr, "asio_http: port %u: %s\n", port, ec.message().c_str());
        return 1;
    }
    accept(acceptor);
    io.run();
}
