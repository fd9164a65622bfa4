// sluice — what a connected byte stream (TCP or Unix domain) is inside the loop:
// detail::stream_impl, its reads, its write queue and its failure rules. The handle users
// hold is in stream.hpp.
//
// Reads: read_some() into the caller's buffer, or read_start() which reads into the
// loop's shared buffer and hands out a view; a stream that is waiting for data owns
// no read memory. Writes: write() sends at once when nothing is queued (most writes
// never touch the queue); what the socket does not take is copied into the stream's
// queue and flushed with gathered sends. The queue has watermarks (write_queue_high()
// says stop producing; a one-shot on_drain() says the queue is back at the low mark)
// and a hard cap, so a peer that stops reading cannot make us buffer without bound.
//
// No hole, ever (docs/guide/lifetimes.md rule 5): the bytes of every write reach the
// peer whole and in order, or the stream fails. A write the stream must refuse (past
// the hard cap, after shutdown_write()), a send error, a timeout or cancelling a write
// whose bytes have started to go out fails the stream: it is closed with a reset (so
// the peer cannot take a truncated stream for a complete one), every pending operation
// completes with the error, and on_error() hears it.
//
// Connecting (name lookup, Happy Eyeballs, the connect timeout) is in connect.hpp.
#pragma once

#include <sluice/handles/handle.hpp>
#include <sluice/handles/write_queue.hpp>
#include <sluice/platform/endpoint.hpp>
#include <sluice/platform/file.hpp>
#include <sluice/tls/engine.hpp>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

struct write_limits {
    std::size_t low_watermark = 256 * 1024;
    std::size_t high_watermark = 1024 * 1024;
    std::size_t hard_cap = 64 * 1024 * 1024;
};

// How a connect proceeds (connect.hpp).
struct connect_options {
    // The whole connect, name lookup included; it then fails with error::timed_out.
    // Zero: no limit but the kernel's own (minutes).
    std::chrono::milliseconds timeout{30000};
    // Happy Eyeballs (RFC 8305 §5): when an address has not connected after this long,
    // the next one is tried in parallel; the first to connect wins.
    std::chrono::milliseconds attempt_delay{250};
};

namespace detail {

class stream_impl;
class connector;
// Defined in connect.hpp, which needs stream_impl complete.
inline void connector_own_ready(connector* c);
inline void connector_cancel(connector* c, std::error_code reason);
inline void delete_connector(connector* c) noexcept;
SLUICE_DECL connector* make_connector(stream_impl& s, io_handler done, const connect_options& o);
SLUICE_DECL void connector_start(connector* c, std::vector<endpoint> targets);
SLUICE_DECL void connector_lookup(connector* c, std::string host, std::uint16_t port);

// A stream's TLS (handles/tls.hpp): the engine every byte passes through, and the
// handshake's completion while it runs. Only TLS streams have one.
struct tls_filter {
    std::unique_ptr<tls::engine> engine;
    std::shared_ptr<tls::context> owner; // the engine's callbacks may point into it
    io_handler handshake_done;           // pending until the handshake ends, once
    std::string cipher;                  // scratch: ciphertext on its way to the socket
    std::int64_t saved_idle_us = 0;      // the idle timeout the handshake timeout replaced
    bool failed = false;                 // no close_notify after a failure
};

// State that only some streams need, allocated on first use so an idle connection
// pays one pointer for it.
struct stream_ext final : timer_node {
    explicit stream_ext(stream_impl* o) : owner(o) {}
    ~stream_ext() { delete_connector(conn); }
    stream_ext(const stream_ext&) = delete;
    stream_ext& operator=(const stream_ext&) = delete;
    // Declared inline, not only defined so: a virtual function declared without it is the
    // class's key function, and GCC then emits the vtable, and everything it reaches, in
    // every translation unit that includes the header.
    SLUICE_DECL void on_timer() override;

    stream_impl* owner;
    write_queue queue;
    std::size_t buffered = 0;
    std::size_t sending = 0; // bytes of the completion backend's send in flight (the last one)
    bool send_stuck = false; // ... which had not completed when push_out() last asked
    write_limits limits;
    unique_function<void()> on_drain;
    unique_function<void()> on_flushed; // stream::on_flushed: the queue is empty
    io_handler on_error;       // called once if the stream fails
    connector* conn = nullptr; // owned, while a connect is in progress
    std::uint64_t last_write_id = 0;
    // Bytes a completion backend received while no read wanted them (a read_stop() with
    // bytes in flight), or beyond a read_some() buffer, or an error that came with them:
    // the next reads get them first, in order.
    std::string stash;
    int stash_error = 0;
    std::unique_ptr<tls_filter> tls; // TLS streams only
    // Timeouts in microseconds (0 = off) and the times they are measured from.
    std::int64_t idle_us = 0, read_us = 0, write_us = 0;
    std::int64_t last_activity = 0, read_started = 0, write_progress = 0;
};

class stream_impl final : public io_object {
  public:
    enum : std::uint8_t {
        connected = 1,
        connecting = 2, // name lookup or connection attempts in progress
        continuous = 4,
        eof_seen = 8,
        shutdown_requested = 16,
        write_shut = 32,
        close_after_flush = 64,
        tls_on = 128, // bytes pass through ext_->tls (the one branch plain streams pay)
    };

    explicit stream_impl(loop& l) : io_object(l) { l.count_stream(true); }

    stream_ext& ext() {
        if (!ext_) ext_.reset(new stream_ext(this));
        return *ext_;
    }

    SLUICE_DECL void update_interest();

    bool stashed() const noexcept {
        return ext_ && (!ext_->stash.empty() || ext_->stash_error);
    }

    // A TLS handshake is running: it reads the socket on its own, whatever the owner's
    // read interest (read_cb_), which governs only the plaintext delivered after it.
    bool handshaking() const noexcept {
        return ext_ && ext_->tls && ext_->tls->handshake_done;
    }

    // Bytes from a completion backend (loop::receive).
    SLUICE_DECL void on_data(int res, const char* data) override;

    // Hands the next read what was kept: bytes first, then an error, then end of stream.
    SLUICE_DECL void deliver_kept();

    SLUICE_DECL void on_ready(unsigned events) override;

    // ---- reading ----

    SLUICE_DECL void start_read(char* buf, std::size_t len, io_handler h, bool keep_reading);

    // A one-shot read completes with operation_aborted; a subscription (read_start) ends
    // silently, its handler released from the loop (docs/guide/lifetimes.md rule 3).
    SLUICE_DECL void stop_read();

    SLUICE_DECL void do_read();

    // From the loop's dispatch (or a deferred call): the handler may run here.
    SLUICE_DECL void deliver_read(std::error_code ec, std::size_t n);

    // ---- writing ----

    // `done` by reference: the public overloads hand it down without a move per layer.
    // Returns the queued write's id, or 0 when it completed (or failed) at once.
    // A TLS stream's writes are encrypted first (tls_write), then come back here as
    // ciphertext.
    SLUICE_DECL std::uint64_t write(const const_buffer* bufs, std::size_t count, io_handler&& done,
                                    shared_bytes* shared);

    SLUICE_DECL void flush();

    // ---- writing through a completion backend (io_uring; handles/impl/stream_send.ipp) ----
    //
    // Nothing is sent from write() itself: the bytes are queued (copied into a slice of the
    // loop's send pool, or a reference to shared bytes) and the front of the queue goes to
    // the backend before the next wait, which submits it with that wait's enter. One send
    // in flight at a time keeps the bytes in order; its completion sends what is left. The
    // backend holds its own references to the bytes until the kernel is done with them.
    bool ring_sends() const noexcept { return loop_->sends() && (flags_ & connected); }
    SLUICE_DECL std::uint64_t ring_write(const const_buffer* bufs, std::size_t count,
                                         io_handler&& done, shared_bytes* shared,
                                         std::size_t total);
    SLUICE_DECL bool start_send() override;
    SLUICE_DECL void on_sent(int res) override;
    // Counts `sent` bytes off the front of the queue: whole writes complete (from the loop).
    SLUICE_DECL void take_sent(std::size_t sent);
    // A burst that would pass a write limit: submits now and takes what the kernel took
    // (a socket send runs inline at submission) before the limit is judged, as a send()
    // per write would on epoll. Only when no send is in flight (then the socket was full).
    SLUICE_DECL void push_out();
    // A write carried by the send in flight is to be cancelled: the send is cancelled and
    // its completion taken now, so the rule (withdrawn only when none of its bytes went
    // out) is judged on what the kernel really sent. A send waiting for room in the socket
    // sent nothing. Nothing happens when no send is in flight.
    SLUICE_DECL void settle_send();
    // What progress may end: a drain wait, on_flushed, a pending shutdown or close.
    SLUICE_DECL void after_progress();

    // stream::send_file_now.
    SLUICE_DECL long long send_file_now(int file_fd, std::uint64_t offset, std::size_t n);

    // What a shutdown or close waited for, once the queue is empty.
    SLUICE_DECL void queue_drained();

    // A write the stream cannot take: it completes with `ec`, and the stream fails, so
    // that no later write can follow the missing bytes.
    SLUICE_DECL std::uint64_t refuse(io_handler&& done, std::error_code ec);

    // The stream failed (rule 5): on_error hears why, the peer gets a reset, every
    // pending operation completes with `ec`.
    SLUICE_DECL void fail(std::error_code ec);

    SLUICE_DECL bool cancel_read();

    // Cancels every queued write. Only the front write can have started; if it has, its
    // remaining bytes cannot be withdrawn without a hole, and the stream fails.
    SLUICE_DECL bool cancel_writes();

    // Cancels one write: withdrawn when none of its bytes went out and nothing is queued
    // behind it, else the stream fails. False when it is no longer queued.
    SLUICE_DECL bool cancel_write(std::uint64_t id);

    SLUICE_DECL void shutdown_write();

    SLUICE_DECL void begin_shutdown() override;

    // ---- connecting (connect.hpp drives it) ----

    SLUICE_DECL void start_connect(std::vector<endpoint> targets, io_handler done,
                                   const connect_options& opt);
    SLUICE_DECL void start_connect(std::string host, std::uint16_t port, io_handler done,
                                   const connect_options& opt);
    // The connector ended (it has queued its handler): forget it.
    SLUICE_DECL void connect_ended(bool ok);
    SLUICE_DECL bool cancel_connect(std::error_code reason);

    // Closes the descriptor of a failed or losing attempt without closing the handle.
    SLUICE_DECL void drop_socket();

    // ---- timeouts ----

    SLUICE_DECL void arm_timeouts();

    SLUICE_DECL void check_timeouts();

    // ---- TLS (handles/impl/stream_tls.ipp) ----

    // Starts TLS on a connected stream: the handshake runs now, `done` hears how it
    // ended; from then on reads are decrypted and writes encrypted.
    SLUICE_DECL void start_tls(std::unique_ptr<tls::engine> e, std::shared_ptr<tls::context> owner,
                               io_handler done, std::int64_t timeout_us);
    SLUICE_DECL void tls_read_socket();
    SLUICE_DECL void tls_on_data(int res, const char* data);
    SLUICE_DECL void tls_ingest(const char* data, std::size_t n);
    // The transport ended: err 0 is a FIN, else the socket error (a reset).
    SLUICE_DECL void tls_transport_end(int err);
    SLUICE_DECL void tls_send_output();
    SLUICE_DECL std::uint64_t tls_write(const const_buffer* bufs, std::size_t count, io_handler&& done);
    SLUICE_DECL std::uint64_t write_cipher(const std::string& cipher, io_handler&& done);
    SLUICE_DECL void tls_closing(std::error_code reason);
    tls::engine* tls_engine() const noexcept {
        return ext_ && ext_->tls ? ext_->tls->engine.get() : nullptr; // also once closed: why it failed
    }

    // ---- closing ----

    SLUICE_DECL void close_with(std::error_code reason) override;

    io_handler read_cb_;
    char* read_buf_ = nullptr;
    std::size_t read_len_ = 0;
    std::unique_ptr<stream_ext> ext_;

  private:
    SLUICE_DECL connector* begin_connect(io_handler done, const connect_options& opt);
};

} // namespace detail
} // namespace sluice

#include <sluice/handles/connect.hpp>

#if SLUICE_COMPILE_BODIES
#include <sluice/handles/impl/stream_impl.ipp>
#include <sluice/handles/impl/stream_tls.ipp>
#include <sluice/handles/impl/stream_send.ipp>
#endif
