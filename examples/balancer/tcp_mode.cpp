// tcp mode: one client connection piped to one backend connection.
#include "balancer.hpp"

#include <memory>

namespace balancer_app {

namespace {

class tcp_session : public std::enable_shared_from_this<tcp_session> {
  public:
    tcp_session(balancer& lb, sluice::tcp_stream client)
        : lb_(lb), client_(std::move(client)), connect_timer_(lb.loop),
          tried_(lb.backends.size(), false) {
        lb_.connection_opened();
    }
    ~tcp_session() {
        release_backend();
        lb_.discard(std::move(client_));
        lb_.discard(std::move(upstream_));
        lb_.connection_closed();
    }

    void start() {
        client_.set_nodelay(true);
        client_.set_write_limits(relay_limits);
        client_.set_timeouts(milliseconds(0), milliseconds(0), stall_timeout);
        std::error_code ec;
        sluice::endpoint peer = client_.remote_endpoint(ec);
        key_ = ec ? 0 : address_hash(peer);
        connect_next();
    }

  private:
    void connect_next() {
        backend_ = lb_.pick(key_, tried_);
        if (backend_ == none) return client_.close(); // nothing healthy left
        tried_[backend_] = true;
        ++lb_.backends[backend_].active;
        lb_.discard(std::move(upstream_)); // the failed attempt's, if any
        upstream_ = sluice::tcp_stream(lb_.loop);
        auto self = shared_from_this();
        connect_timer_.start(connect_timeout, [self](std::error_code ec) {
            if (!ec) self->upstream_.cancel_connect();
        });
        upstream_.connect(lb_.backends[backend_].address,
                          [self](std::error_code ec) { self->on_connected(ec); });
    }

    void on_connected(std::error_code ec) {
        connect_timer_.cancel();
        if (!client_.is_open()) return; // closed by a forced stop meanwhile
        if (ec) {
            lb_.connect_failed(backend_, ec);
            release_backend();
            return connect_next();
        }
        ++lb_.backends[backend_].served;
        upstream_.set_nodelay(true);
        upstream_.set_write_limits(relay_limits);
        upstream_.set_timeouts(milliseconds(0), milliseconds(0), stall_timeout);
        pump(0);
        pump(1);
    }

    // Direction 0 is client -> upstream, 1 is upstream -> client.
    sluice::tcp_stream& source(int dir) { return dir ? upstream_ : client_; }
    sluice::tcp_stream& sink(int dir) { return dir ? client_ : upstream_; }

    void pump(int dir) {
        auto self = shared_from_this();
        source(dir).read_start([self, dir](std::error_code ec, std::string_view data) {
            self->on_data(dir, ec, data);
        });
    }

    void on_data(int dir, std::error_code ec, std::string_view data) {
        if (ec) {
            if (ec == sluice::error::operation_aborted) return; // we closed it
            if (ec != sluice::error::eof) return abort();
            sink(dir).shutdown_write(); // pass the half-close on, after the queued bytes
            finished_[dir] = true;
            if (finished_[0] && finished_[1]) {
                client_.close_after_flush();
                upstream_.close_after_flush();
            }
            return;
        }
        auto self = shared_from_this();
        sink(dir).write(data, [self](std::error_code wec, std::size_t) {
            if (wec && wec != sluice::error::operation_aborted) self->abort();
        });
        if (sink(dir).write_queue_high()) {
            source(dir).read_stop();
            sink(dir).on_drain([self, dir] { self->pump(dir); });
        }
    }

    void abort() {
        client_.close();
        upstream_.close();
    }

    void release_backend() {
        if (backend_ == none) return;
        --lb_.backends[backend_].active;
        backend_ = none;
    }

    balancer& lb_;
    sluice::tcp_stream client_, upstream_;
    sluice::timer connect_timer_;
    std::vector<bool> tried_;
    std::size_t backend_ = none;
    std::uint32_t key_ = 0;
    bool finished_[2] = {false, false};
};

} // namespace

void start_tcp_session(balancer& lb, sluice::tcp_stream client) {
    std::make_shared<tcp_session>(lb, std::move(client))->start();
}

} // namespace balancer_app
