// sluice — a WebSocket connection on the loop: the sans-I/O codec driven by a tcp_stream.
//
// One connection type serves both roles; ws::server (server.hpp) makes them from HTTP
// upgrades and ws::connect (client.hpp) dials them. Events go to a `handlers` object that
// all the connections of one server share, so a connection carries no callbacks of its own:
// its whole state is sizeof(detail::conn_impl) (about 250 bytes: the codec, a timer, list
// links) plus the TCP stream's. An idle connection owns no read or message buffer.
//
// Two ways to receive, one mechanism: with on_message set, every message is pushed to it
// (pause()/resume() hold the flow); without it the connection is pulled: read() (or
// `co_await conn.read()` from the coroutine layer) takes one message, and between reads the
// connection does not read from the socket at all, so a slow consumer pushes back on the
// peer through TCP instead of buffering. A message's data is a view that is valid until the
// handler returns (or the coroutine next suspends): into the loop's read buffer when it
// arrived whole, else into the codec's reassembly buffer.
//
// Sending never blocks and never waits: bytes the kernel does not take now are queued on the
// stream. A server sends a message as one gathered write of header + the caller's bytes (no
// copy unless the socket is full); broadcast() shares one encoded frame between all
// connections. buffered_amount(), write_queue_high() and on_drain() are the backpressure;
// settings::write.hard_cap bounds the queue (send fails with error::write_queue_full).
//
// Closing: close(code, reason) starts the close handshake; the server closes the TCP
// connection once it has both sent and received a close (RFC 6455 §7.1.1), the client waits
// for the server to do so; close_timeout bounds both waits. on_close runs exactly once per
// connection that reached on_open, with the peer's code, or 1006 and an error when the
// connection ended without a close frame; except when the connection's server is destroyed:
// its connections end then (a best-effort 1001 close frame, then the TCP connection is
// closed without waiting) and none of its handlers runs again, on_close included.
//
// Lifetimes (docs/guide/lifetimes.md): a connection is a detail::ref_counted object; the
// public handle, every handler the connection gives the stream or the loop, and the list of
// open connections (from open() to finish()) each hold one reference. A pending read
// (message_reader) completes exactly once, from the loop: with a message, or with
// error::closed once the connection ended (operation_aborted when its server was
// destroyed); a read that cannot start is refused by read()'s return value.
#pragma once

#include <sluice/handles/tcp.hpp>
#include <sluice/loop/loop.hpp>
#include <sluice/util/buffer.hpp>
#include <sluice/util/function.hpp>
#include <sluice/util/ref.hpp>
#include <sluice/ws/codec.hpp>
#include <sluice/ws/error.hpp>
#include <sluice/ws/topics.hpp>

#include <chrono>
#include <functional>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace sluice {
namespace ws {

// What a send beyond settings::send_limit does.
enum class send_limit_policy : std::uint8_t {
    close, // the connection is closed with 1008 (policy violation); the send fails
    drop,  // this message is dropped (the send fails with write_queue_full); the connection stays
};

struct settings {
    // Protocol limits and behaviour: max_message_size (16 MiB by default; larger -> 1009),
    // fragment_size for outgoing messages, reassemble, auto_pong.
    options codec{};
    // A ping is sent after this long without a byte from the peer (0: never).
    std::chrono::milliseconds ping_interval{30000};
    // Nothing received for this long: close with 1001 (0: never). Keep it above
    // ping_interval so a live peer's pong arrives in time.
    std::chrono::milliseconds idle_timeout{75000};
    // After our close frame (or the peer's, for a client): how long to wait for the other
    // side before dropping the TCP connection.
    std::chrono::milliseconds close_timeout{5000};
    // Outgoing queue: watermarks for write_queue_high()/on_drain(), and the hard cap.
    write_limits write{};
    // Negotiates an extension in the handshake (offered by a client, accepted by a server),
    // e.g. std::make_shared<ws::permessage_deflate>() from <sluice/ws/deflate.hpp>. Shared
    // by every connection; null: none.
    std::shared_ptr<extension_negotiator> extensions{};
    // Backpressure that protects by default: the bytes queued for one peer (sent by us, not
    // yet taken by its TCP window) may not pass this. A send that would is not queued, and
    // `on_send_limit` says what then: close the connection with 1008 (the default: a peer
    // that cannot keep up is told so rather than silently missing messages), or drop that
    // message and keep going (the send returns write_queue_full; write_queue_high() stays
    // true until the queue drains to the low watermark). 0: no limit but write.hard_cap.
    // The effective limit is the smaller of the two; the watermarks are clamped under it,
    // so every combination works (see connection::write_queue_high()).
    std::size_t send_limit = 1024 * 1024;
    send_limit_policy on_send_limit = send_limit_policy::close;
    // Topics (rooms, channels): how many one connection may join, and the longest name.
    std::size_t max_topics = 256;
    std::size_t max_topic_size = 256;
};

struct message {
    opcode op = opcode::binary;
    std::string_view data;
    // false: more pieces of this message follow (only with settings.codec.reassemble off).
    bool fin = true;
    bool is_text() const noexcept { return op == opcode::text; }
    bool is_binary() const noexcept { return op == opcode::binary; }
};

struct close_status {
    // The code from the peer's close frame; 1005 when it had none; 1006 when the connection
    // ended without one (ec says why); the code we sent when we failed the connection.
    std::uint16_t code = close_code::abnormal;
    std::string_view reason;
    std::error_code ec; // set when the connection failed or dropped rather than closed
};

// A frame encoded once (server role, unmasked) and shared, never copied, by every
// connection it is sent to.
struct prepared_message {
    opcode op = opcode::binary;
    shared_bytes frame;
};

// Server frames are unmasked, so one encoding fits every connection. Text must be UTF-8.
SLUICE_DECL std::error_code prepare(opcode op, const void* data, std::size_t n, prepared_message& out);

class connection;

// Shared by every connection of a server (one copy), so each callback costs nothing per
// connection. All optional.
struct handlers {
    unique_function<void(connection&)> on_open;
    unique_function<void(connection&, const message&)> on_message;
    unique_function<void(connection&, std::string_view)> on_ping; // the pong is automatic
    unique_function<void(connection&, std::string_view)> on_pong;
    unique_function<void(connection&, const close_status&)> on_close;
};

namespace detail {

class conn_impl;
using conn_ref = sluice::detail::ref<conn_impl>;

// What the connections of one endpoint share: configuration, callbacks, the list of open
// connections. Counted: the owner (server or dial) and each connection hold a reference.
struct shared_state final : sluice::detail::loop_resident,
                            sluice::detail::ref_counted<shared_state> {
    shared_state(loop& l, settings s) : lp(&l), cfg(std::move(s)) { l.add_resident(this); }
    ~shared_state() {
        if (lp) lp->remove_resident(this);
    }
    // The loop is being destroyed without shutdown(): let every open connection go,
    // without calling anyone (the loop drops its own pending handlers uncalled too). The
    // connections' own references (the open list's, their read handlers') cannot be seen
    // by the loop, which is why this endpoint is a loop_resident.
    SLUICE_DECL void on_loop_exit() noexcept override; // see stream_ext::on_timer
    // The owner (ws::server) is being destroyed: end every open connection and let go of
    // the handlers; see conn_impl::end_by_owner().
    SLUICE_DECL void end_for_owner();
    SLUICE_DECL void drop_handlers();

    loop* lp; // null once the loop is gone
    settings cfg;
    handlers h;
    conn_impl* first = nullptr; // open connections (each unlinks itself in finish())
    // Reassembly buffers lent to the connections receiving a message larger than a read
    // (see codec::consume): a few, so several large streams do not each fault in fresh
    // pages per message.
    std::vector<std::vector<std::uint8_t>> spares;
    static constexpr std::size_t max_spares = 4;
    // Frames that must be built before they are written (masked, fragmented, control).
    std::string scratch;
    std::size_t open = 0;
    topic_table topics;
};

// A pending wait for the send queue to drain (ws::drained): told once, from the loop, that
// the queue is back at the low watermark ({}), or that the connection ended (error::closed;
// operation_aborted when its server was destroyed). on_dropped(): the loop is being
// destroyed and the wait will never complete.
class drain_waiter {
  public:
    virtual void on_drained(std::error_code ec) = 0;
    virtual void on_dropped() noexcept {}

  protected:
    ~drain_waiter() = default;
};

// Per-connection data of the application's (typed, no RTTI: a per-type tag address tells
// the types apart), made at upgrade and destroyed when the connection ends.
struct data_box {
    const void* tag;
    virtual ~data_box() = default; // defined in the class: no key function
};
template <class T>
struct type_tag {
    static constexpr char id = 0; // inline (C++17): one address per type in the program
};
template <class T>
struct data_box_of final : data_box {
    template <class U>
    explicit data_box_of(U&& x) : value(std::forward<U>(x)) {
        tag = &type_tag<T>::id;
    }
    T value;
};

// What a connection has only when the application uses it: its pointer, its typed data,
// its topics. Allocated on first use, so a connection that uses none costs one pointer.
struct conn_extras {
    void* user = nullptr;
    std::unique_ptr<data_box> data;
    subscription* subs = nullptr; // this connection's topics (subscription::next_of_conn)
    std::size_t sub_count = 0;
    unique_function<void()> on_drain; // connection::on_drain's callback
    drain_waiter* waiter = nullptr;    // ws::drained's awaiter (weak: it withdraws itself)
    bool waiter_queued = false;        // its end-of-connection completion is queued
};

// A pending pull (read()): gets one message, or the error that ended the connection, once,
// from the loop. on_dropped(): the loop is being destroyed and the read will never complete
// (a coroutine's awaiter destroys its chain then, as a dropped handler would).
class message_reader {
  public:
    virtual void on_message(const message* m, std::error_code ec) = 0;
    virtual void on_dropped() noexcept {}

  protected:
    ~message_reader() = default;
};

// Something the connection keeps until it ends, for whoever made it: meant for the
// http::server's max_connections slot that an upgraded connection keeps holding (a
// move-only token from http::response::takeover), so upgrades keep counting.
struct held_token {
    virtual ~held_token() = default; // defined in the class: no key function
};
template <class T>
struct held_token_of final : held_token {
    explicit held_token_of(T&& x) : value(std::move(x)) {}
    T value;
};

class conn_impl final : public sluice::detail::timer_node,
                        public sluice::detail::ref_counted<conn_impl> {
    // The small fields first: they fill the padding after the base's reference count, which
    // keeps a connection's state at 256 bytes.
    std::uint16_t close_code_ = 0; // as reported to on_close (0: not yet)
    bool open_ : 1;
    bool reading_ : 1;
    bool paused_ : 1;
    bool in_feed_ : 1;
    bool feed_scheduled_ : 1;
    bool closing_ : 1;
    bool reported_ : 1;
    bool ping_out_ : 1;
    bool draining_ : 1;
    bool reader_queued_ : 1; // a reader_completion is queued
    bool owner_gone_ : 1;    // ended by end_by_owner(): readers get operation_aborted
    bool limit_hit_ : 1;     // a send was refused at the send limit; cleared on drain

  public:
    conn_impl(sluice::detail::ref<shared_state> sh, role r, tcp_stream st)
        : open_(false), reading_(false), paused_(false), in_feed_(false), feed_scheduled_(false),
          closing_(false), reported_(false), ping_out_(false), draining_(false),
          reader_queued_(false), owner_gone_(false), limit_hit_(false), codec_(r, sh->cfg.codec),
          stream_(std::move(st)), sh_(std::move(sh)) {
        apply_limits();
    }
    SLUICE_DECL ~conn_impl();
    conn_impl(const conn_impl&) = delete;
    conn_impl& operator=(const conn_impl&) = delete;

    // The connection is established (after the handshake): `rest` is what the peer sent
    // after its handshake. The open list takes a reference of its own, dropped by finish().
    void open(std::string rest);

    // Keeps `t` (move-only) until the connection ends: see held_token.
    template <class Token>
    void hold_until_end(Token&& t) {
        using T = std::decay_t<Token>;
        held_ = std::unique_ptr<held_token>(new held_token_of<T>(std::forward<Token>(t)));
    }

    // The extension negotiated in the handshake (owned by the codec from here on).
    void set_extension(std::unique_ptr<extension> e) noexcept { codec_.adopt_extension(std::move(e)); }

    // ---- sending ----

    SLUICE_DECL std::error_code send(opcode op, const void* p, std::size_t n);

    SLUICE_DECL std::error_code send(const prepared_message& pm);

    SLUICE_DECL std::error_code control(opcode op, std::string_view payload);

    SLUICE_DECL std::error_code close(std::uint16_t code, std::string_view reason);

    // Drops the TCP connection now, without a close handshake.
    SLUICE_DECL void abort(std::error_code why);

    // A client whose handshake failed: on_close hears why (the connection never opened).
    // The caller holds a counted reference to this connection.
    SLUICE_DECL void fail_handshake(std::error_code ec);

    // The owner (ws::server) is being destroyed. Its handlers must not run again, so the
    // connection cannot wait for a close handshake: a 1001 close frame goes out if the
    // kernel takes it now (best effort: it is dropped when queued behind unsent data, and a
    // peer still sending may get a reset instead), then the TCP connection is closed.
    // on_close is not called; a pending read completes with operation_aborted, from the loop.
    SLUICE_DECL void end_by_owner();

    // The loop is going away: close and forget, calling no handler and resuming no reader
    // (a reader hears on_dropped(), the counterpart of a handler destroyed uncalled).
    SLUICE_DECL void drop_silently() noexcept;

    // ---- receiving ----

    SLUICE_DECL void pause();

    SLUICE_DECL void resume();

    // Why a read cannot start now (it would never complete): the loop is gone (nothing to
    // complete on), or another read is pending.
    SLUICE_DECL std::error_code cannot_read() const noexcept;

    // r gets the next message, or the end of the connection, exactly once, from the loop;
    // unless the read is refused at start (cannot_read(): r is never called).
    SLUICE_DECL std::error_code read(message_reader* r);
    // Withdraws r (it will not be called): a cancelled or destroyed awaiter.
    SLUICE_DECL void cancel_read(message_reader* r) noexcept;

    // ---- state ----

    bool is_open() const noexcept { return open_; }
    // The connection's loop, null once it is gone.
    loop* get_loop() const noexcept { return sh_->lp; }
    std::uint16_t close_code() const noexcept { return close_code_; }
    role get_role() const noexcept { return codec_.get_role(); }
    tcp_stream& stream() noexcept { return stream_; }
    // Heap bytes held for incoming data: the codec's buffers and input held back.
    std::size_t receive_buffer_bytes() const noexcept {
        return codec_.footprint() + (stash_ ? stash_->capacity() : 0);
    }
    // ---- the application's: pointer, typed data, topics ----

    SLUICE_DECL conn_extras& extras();
    conn_extras* extras_if_any() const noexcept { return extras_; }
    // Takes ownership; the data lives until the connection ends (finish()).
    void set_data(std::unique_ptr<data_box> d) { extras().data = std::move(d); }
    template <class T>
    T* data() const noexcept {
        data_box* b = extras_ ? extras_->data.get() : nullptr;
        return b && b->tag == &type_tag<T>::id ? &static_cast<data_box_of<T>*>(b)->value : nullptr;
    }

    SLUICE_DECL std::error_code subscribe(std::string_view topic);
    SLUICE_DECL bool unsubscribe(std::string_view topic) noexcept;
    SLUICE_DECL bool subscribed(std::string_view topic) const noexcept;
    SLUICE_DECL void unsubscribe_all() noexcept;

    // ---- backpressure ----

    // Queued bytes at or above the high watermark, or a send refused at the limit since the
    // queue last drained to the low one.
    bool write_queue_high() const noexcept {
        return (limit_hit_ && stream_.buffered_amount() > low_mark()) || stream_.write_queue_high();
    }
    SLUICE_DECL void on_drain(unique_function<void()> cb);
    // w hears once, from the loop, when the queue drains or the connection ends; refused
    // (w never called) with sluice::error::in_progress while another wait is pending, or
    // loop_gone.
    SLUICE_DECL std::error_code wait_drain(drain_waiter* w);
    SLUICE_DECL void cancel_drain(drain_waiter* w) noexcept;
    // The send limit in force (settings::send_limit and write.hard_cap, whichever is lower).
    SLUICE_DECL std::size_t send_limit() const noexcept;
    // The low watermark in force (settings::write's, clamped under the high one).
    SLUICE_DECL std::size_t low_mark() const noexcept;

    shared_state& shared() const noexcept { return *sh_; }

    conn_impl* next = nullptr; // the endpoint's list of open connections
    conn_impl* prev = nullptr;

  private:
    SLUICE_DECL std::string& scratch() noexcept;

    // Applies the settings' limits to the stream: watermarks clamped under the send limit,
    // the stream's own cap just above it so that a close or pong always fits.
    SLUICE_DECL void apply_limits();
    // Whether a send of `more` bytes is refused (see the definition); refuse_send()
    // applies settings::on_send_limit and returns the send's error.
    SLUICE_DECL bool over_limit(std::size_t more) noexcept;
    SLUICE_DECL std::error_code refuse_send();

    bool pull_mode() const noexcept { return !sh_->h.on_message; }

    bool wants_input() const noexcept {
        return open_ && !paused_ && (!pull_mode() || reader_ != nullptr || closing_);
    }

    // Feeds what was held back, then reads from the socket while input is wanted. Input
    // held back is fed from a deferred call, never inside the call that asked for it.
    SLUICE_DECL void pump();

    SLUICE_DECL void feed_held();

    SLUICE_DECL void start_reading();

    SLUICE_DECL void stop_reading();

    SLUICE_DECL void on_read(std::error_code ec, std::string_view d);

    SLUICE_DECL void feed(char* data, std::size_t n);

    SLUICE_DECL void on_event(const event& ev);

    template <class F>
    void with_handle(F&& f);

    SLUICE_DECL void report(std::uint16_t code, std::string_view reason, std::error_code ec);

    SLUICE_DECL void start_closing();

    // The end: unlink, stop everything, tell a pending reader (from the loop), drop the open
    // list's reference.
    SLUICE_DECL void finish();

    // The connection has ended: whatever reader is registered when the loop gets to it
    // hears so (at most one such call queued). If the loop is destroyed first, the reader
    // is told it was dropped instead.
    struct reader_completion {
        conn_ref c;
        bool armed = true;
        explicit reader_completion(conn_impl* x) : c(x) {}
        reader_completion(reader_completion&& o) noexcept
            : c(std::move(o.c)), armed(std::exchange(o.armed, false)) {}
        reader_completion& operator=(reader_completion&&) = delete;
        void operator()() {
            armed = false;
            c->reader_queued_ = false;
            if (message_reader* r = std::exchange(c->reader_, nullptr)) {
                const std::error_code ec = c->owner_gone_
                                               ? make_error_code(sluice::error::operation_aborted)
                                               : make_error_code(error::closed);
                r->on_message(nullptr, ec);
            }
        }
        ~reader_completion() {
            if (!c || !armed) return;
            c->reader_queued_ = false;
            if (message_reader* r = std::exchange(c->reader_, nullptr)) r->on_dropped();
        }
    };
    SLUICE_DECL void complete_reader_later();

    // Arms the stream's drain callback for whoever waits here (on_drain, wait_drain).
    SLUICE_DECL void arm_drain();
    SLUICE_DECL void drained();
    // The connection ended with a drain wait pending: it completes from the loop, or hears
    // on_dropped() if the loop is destroyed first.
    struct waiter_completion {
        conn_ref c;
        bool armed = true;
        explicit waiter_completion(conn_impl* x) : c(x) {}
        waiter_completion(waiter_completion&& o) noexcept
            : c(std::move(o.c)), armed(std::exchange(o.armed, false)) {}
        waiter_completion& operator=(waiter_completion&&) = delete;
        void operator()() {
            armed = false;
            conn_extras& x = *c->extras_;
            x.waiter_queued = false;
            if (drain_waiter* w = std::exchange(x.waiter, nullptr))
                w->on_drained(c->owner_gone_ ? make_error_code(sluice::error::operation_aborted)
                                             : make_error_code(error::closed));
        }
        ~waiter_completion() {
            if (!c || !armed) return;
            c->extras_->waiter_queued = false;
            if (drain_waiter* w = std::exchange(c->extras_->waiter, nullptr)) w->on_dropped();
        }
    };

    // Closing the TCP connection on our side while the peer may still be sending (it has
    // not read our close yet, or is in the middle of a message we refused) would make the
    // kernel answer with a reset, and a reset can destroy our close frame before the peer
    // reads it. So: FIN after the queued bytes, read and discard until the peer's FIN or
    // close_timeout, then close. The read handler's reference keeps this object alive.
    SLUICE_DECL void linger();

    SLUICE_DECL void end_linger();

    // ---- timers: one node, lazily re-armed (reads only move last_rx_) ----

    static std::int64_t us(std::chrono::milliseconds d) noexcept {
        return static_cast<std::int64_t>(d.count()) * 1000;
    }

    SLUICE_DECL std::int64_t next_deadline(std::int64_t now) const noexcept;

    SLUICE_DECL void rearm(std::int64_t d);

    SLUICE_DECL void on_timer() override;

    codec codec_;
    tcp_stream stream_;
    sluice::detail::ref<shared_state> sh_;
    message_reader* reader_ = nullptr; // weak: the reader withdraws itself (cancel_read)
    std::string* stash_ = nullptr; // input held back while paused (null otherwise)
    std::unique_ptr<held_token> held_; // see hold_until_end()
    conn_extras* extras_ = nullptr;     // see extras()
    std::int64_t last_rx_ = 0;

    friend class sluice::ws::connection;
};

// Sends pm to every subscriber of topic `t` (found by the caller; null: none) but `except`;
// how many took it.
SLUICE_DECL std::size_t publish_to(shared_state& sh, topic_entry* t, const prepared_message& pm,
                                   const conn_impl* except);

} // namespace detail

// A counted handle to one connection (copies share it; loop thread only). A default or
// finished connection refuses to send with error::closed.
class connection {
  public:
    connection() noexcept = default;
    explicit connection(detail::conn_impl* c) noexcept : c_(c) {}

    std::error_code send_text(std::string_view s) { return send(opcode::text, s.data(), s.size()); }
    std::error_code send_binary(const void* p, std::size_t n) { return send(opcode::binary, p, n); }
    std::error_code send_binary(std::string_view s) { return send_binary(s.data(), s.size()); }
    std::error_code send(opcode op, const void* p, std::size_t n) {
        return c_ ? c_->send(op, p, n) : make_error_code(error::closed);
    }
    // A frame prepared once for many connections (server role only).
    std::error_code send(const prepared_message& pm) {
        return c_ ? c_->send(pm) : make_error_code(error::closed);
    }
    std::error_code ping(std::string_view payload = {}) {
        return c_ ? c_->control(opcode::ping, payload) : make_error_code(error::closed);
    }
    std::error_code pong(std::string_view payload = {}) {
        return c_ ? c_->control(opcode::pong, payload) : make_error_code(error::closed);
    }
    // Starts the close handshake (code 1005 = a close frame without a code).
    std::error_code close(std::uint16_t code = close_code::normal, std::string_view reason = {}) {
        return c_ ? c_->close(code, reason) : make_error_code(error::closed);
    }
    // Drops the TCP connection at once (on_close sees 1006, operation_aborted).
    void abort() {
        if (c_) c_->abort(make_error_code(sluice::error::operation_aborted));
    }

    // Flow control of incoming messages (push mode): no message is delivered between
    // pause() and resume(), and the socket is not read meanwhile.
    void pause() {
        if (c_ && c_->is_open()) c_->pause();
    }
    void resume() {
        if (c_ && c_->is_open()) c_->resume();
    }
    // Pull mode (no on_message handler): r gets the next message, or the error that ended
    // the connection (error::closed; operation_aborted when its server was destroyed),
    // exactly once and from the loop, unless cancel_read(r) withdraws it first. Refused at
    // start, r never called, with the returned error: error::closed for an empty handle,
    // sluice::error::loop_gone when the connection's loop is gone, sluice::error::in_progress
    // while another read is pending. Prefer the coroutine form, `co_await ws::read(conn)`
    // (sluice/ws/coro.hpp).
    std::error_code read(detail::message_reader* r) {
        return c_ ? c_->read(r) : make_error_code(error::closed);
    }
    void cancel_read(detail::message_reader* r) noexcept {
        if (c_) c_->cancel_read(r);
    }

    // Heap bytes this connection holds for incoming data (a message being reassembled,
    // input held back while paused): grows with what the peer sent, not with what it
    // declared. 0 when idle.
    std::size_t receive_buffer_bytes() const noexcept {
        return c_ ? c_->receive_buffer_bytes() : 0;
    }

    // Backpressure of outgoing messages. buffered_amount(): bytes queued for the peer.
    // write_queue_high(): time to stop producing — the queue is at the high watermark, or a
    // send was refused at the send limit (settings::send_limit) since it last drained.
    // on_drain(cb): cb once, when the queue is back at the low watermark (on the next loop
    // turn if it already is); if the connection ends first, cb is destroyed uncalled. One
    // callback at a time: a new one replaces the last. In a coroutine, co_await
    // ws::drained(conn) (sluice/ws/coro.hpp), which also hears the end of the connection.
    std::size_t buffered_amount() const noexcept { return c_ ? c_->stream().buffered_amount() : 0; }
    bool write_queue_high() const noexcept { return c_ && c_->write_queue_high(); }
    void on_drain(unique_function<void()> cb) {
        if (c_ && c_->is_open()) c_->on_drain(std::move(cb));
    }
    // The bytes that may be queued for this peer (see settings::send_limit).
    std::size_t send_limit() const noexcept { return c_ ? c_->send_limit() : 0; }

    // Topics of this connection's server (see ws::server::publish). subscribe() fails with
    // error::closed on an ended connection, error::topic_too_long for an empty name or one
    // longer than settings::max_topic_size, error::too_many_topics past settings::max_topics;
    // subscribing twice is not an error. A connection leaves all its topics when it ends.
    std::error_code subscribe(std::string_view topic) {
        return c_ ? c_->subscribe(topic) : make_error_code(error::closed);
    }
    // False when it was not subscribed.
    bool unsubscribe(std::string_view topic) noexcept { return c_ && c_->unsubscribe(topic); }
    bool is_subscribed(std::string_view topic) const noexcept {
        return c_ && c_->subscribed(topic);
    }
    // Sends to every other subscriber of `topic` (not to this connection); see
    // ws::server::publish. Returns how many took it.
    SLUICE_DECL std::size_t publish(std::string_view topic, opcode op, const void* data,
                                    std::size_t n) const;
    std::size_t publish(std::string_view topic, std::string_view text) const {
        return publish(topic, opcode::text, text.data(), text.size());
    }

    bool is_open() const noexcept { return c_ && c_->is_open(); }
    // The close code reported to on_close (1006: dropped without a close frame), 0 before.
    std::uint16_t close_code() const noexcept { return c_ ? c_->close_code() : 0; }
    explicit operator bool() const noexcept { return c_ != nullptr; }
    role get_role() const noexcept { return c_ ? c_->get_role() : role::server; }
    SLUICE_DECL endpoint remote_endpoint(std::error_code& ec) const;
    // The data given to ws::server::upgrade(req, res, data) for this connection, if it was
    // a T (no RTTI involved); null otherwise, and once the connection has ended (its data is
    // destroyed then, after on_close).
    template <class T>
    T* data() const noexcept {
        return c_ ? c_->data<T>() : nullptr;
    }
    // One untyped pointer of the application's own, per connection.
    void* user_data() const noexcept {
        return c_ && c_->extras_if_any() ? c_->extras_if_any()->user : nullptr;
    }
    void set_user_data(void* p) {
        if (c_) c_->extras().user = p;
    }

    friend bool operator==(const connection& a, const connection& b) noexcept {
        return a.c_ == b.c_;
    }
    friend bool operator!=(const connection& a, const connection& b) noexcept {
        return a.c_ != b.c_;
    }
    // Ordered and hashed by identity (std::less on the pointer: a total order), so
    // connections can key a std::map, std::set or std::unordered_map.
    friend bool operator<(const connection& a, const connection& b) noexcept {
        return std::less<const detail::conn_impl*>()(a.c_.get(), b.c_.get());
    }
    detail::conn_impl* impl() const noexcept { return c_.get(); }

  private:
    detail::conn_ref c_;
};

namespace detail {

template <class F>
void conn_impl::with_handle(F&& f) {
    connection c(this);
    f(c);
}




} // namespace detail

} // namespace ws
} // namespace sluice

namespace std {
template <>
struct hash<sluice::ws::connection> {
    std::size_t operator()(const sluice::ws::connection& c) const noexcept {
        return std::hash<const void*>()(c.impl());
    }
};
} // namespace std

#if SLUICE_COMPILE_BODIES
#include <sluice/ws/impl/connection.ipp>
#endif
