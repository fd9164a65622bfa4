// sluice — sans-I/O WebSocket connection state machine (RFC 6455 §5-§7).
//
// Bytes in, events out: feed() takes what the socket read and calls a handler once per event,
// in protocol order. Why a callback per event rather than returning events: one read can hold
// many frames (ten pings need ten pongs, in order), and returning them would need a growing
// container; a callback keeps the codec allocation-free and lets payload views point straight
// into the caller's buffer (they are valid only until the handler returns).
//
// Why feed() takes a mutable buffer: masked payloads are unmasked in place, so a message that
// arrives whole in one read is delivered as a view of the read buffer, never copied. The codec
// owns a heap buffer only while a message that spans reads (or frames) is being reassembled;
// an idle connection owns none. That buffer grows with the bytes that arrived (doubling), never
// with a frame's declared length, which is only checked against max_message_size (1009 before
// any byte is buffered). Control payloads that span reads go to a 125-byte heap block.
//
// Bytes the codec must send on its own (pongs, the close reply, the close frame when failing)
// arrive as event_type::send, in order with everything else; the glue writes them before any
// data the application encodes afterwards. event_type::disconnect means "close the TCP
// connection now": the server after the close handshake, either side after failing.
//
// The handler must not call feed() recursively; it may call the encode_*() functions.
#pragma once

#include <sluice/config.hpp>
#include <sluice/util/utf8.hpp>
#include <sluice/ws/error.hpp>
#include <sluice/ws/extension.hpp>
#include <sluice/ws/frame.hpp>
#include <sluice/ws/random.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace sluice {
namespace ws {

struct options {
    // Largest message (after any extension transform) accepted; larger fails with 1009. The
    // check happens at the frame header, before the payload arrives.
    std::uint64_t max_message_size = std::uint64_t{16} << 20; // 16 MiB
    // Outgoing messages are split into frames of at most this many payload bytes; 0 = never.
    std::uint32_t fragment_size = 0;
    // true: deliver complete messages (event_type::message). false: stream every piece as it
    // arrives (event_type::fragment), so no reassembly buffer is ever allocated.
    bool reassemble = true;
    // Answer every ping with its pong automatically (RFC 6455 §5.5.2).
    bool auto_pong = true;
    extension* ext = nullptr;
    random_source rng{}; // masking keys (client role)
};

enum class event_type : std::uint8_t {
    message,    // a complete text/binary message: op, data
    fragment,   // a piece of a message (reassemble == false): op, data, fin = last piece
    ping,       // data = ping payload (the pong is sent automatically unless disabled)
    pong,       // data = pong payload
    close,      // the peer's close: code (1005 if it sent none), data = reason
    send,       // bytes the caller must write to the peer
    fail,       // the connection failed: ec, code = close code sent (the close frame preceded)
    disconnect, // close the transport now
};

struct event {
    event_type type;
    opcode op = opcode::binary;
    bool fin = true;
    std::uint16_t code = 0;
    std::error_code ec{};
    const std::uint8_t* data = nullptr;
    std::size_t size = 0;

    std::string_view view() const noexcept {
        return size == 0 ? std::string_view{}
                         : std::string_view(reinterpret_cast<const char*>(data), size);
    }
};

class codec {
  public:
    explicit codec(role r, const options& o = options{}) noexcept
        : max_message_(o.max_message_size), ext_(o.ext), rng_(o.rng),
          fragment_size_(o.fragment_size), role_(r), reassemble_(o.reassemble),
          auto_pong_(o.auto_pong) {}
    ~codec() {
        if (owns_ext_) delete ext_;
    }
    codec(const codec&) = delete;
    codec& operator=(const codec&) = delete;

    // Installs an extension negotiated for this connection (extension_negotiator), which the
    // codec then owns; replaces options::ext. Before the first byte is fed or encoded.
    void adopt_extension(std::unique_ptr<extension> e) noexcept {
        if (owns_ext_) delete ext_;
        ext_ = e.release();
        owns_ext_ = ext_ != nullptr;
    }
    extension* get_extension() const noexcept { return ext_; }

    // Consumes all n bytes (partial headers and control payloads are kept internally), unless
    // the handler calls pause(): see consume(). Returns the error that failed the connection,
    // if this call failed it. After a close was received or the connection failed, input is
    // ignored.
    template <class Handler>
    std::error_code feed(std::uint8_t* data, std::size_t n, Handler&& h) {
        return consume(data, n, h).ec;
    }

    struct consume_result {
        std::size_t consumed = 0;
        std::error_code ec{};
    };
    // feed() that may stop early: when the handler calls pause() (e.g. a reader that wants no
    // more messages yet), consume() returns right after that event, with the number of bytes
    // used; the caller keeps the rest and feeds it after resume(). This is flow control that
    // costs nothing while unused: no event is ever queued inside the codec.
    //
    // `pool` (optional) lends a reassembly buffer and takes it back when no message is in
    // progress, so a stream of messages larger than one read reuses one buffer (owned by
    // whoever shares the pool, e.g. all connections of a server) instead of allocating and
    // faulting in fresh pages per message; the connection still owns none while idle.
    template <class Handler>
    consume_result consume(std::uint8_t* data, std::size_t n, Handler&& h,
                           std::vector<std::uint8_t>* pool = nullptr) {
        if (pool && buf_.capacity() == 0) buf_.swap(*pool);
        consume_result r = consume_some(data, n, h);
        if (buf_.empty()) {
            if (pool && buf_.capacity() > pool->capacity() && buf_.capacity() <= max_pooled)
                buf_.swap(*pool);
            std::vector<std::uint8_t>().swap(buf_);
        }
        return r;
    }

    // A pooled buffer larger than this is freed rather than kept.
    static constexpr std::size_t max_pooled = std::size_t{4} << 20;

  private:
    template <class Handler>
    consume_result consume_some(std::uint8_t* data, std::size_t n, Handler& h) {
        std::uint8_t* const start = data;
        while (n != 0 && state_ != rx_state::closed && !paused_) {
            if (state_ == rx_state::header) {
                if (scratch_len_ < 2) {
                    const std::size_t take = take_bytes(data, n, 2);
                    data += take;
                    n -= take;
                    if (scratch_len_ < 2) break;
                    const error e =
                        check_header_prefix(scratch_[0], scratch_[1], role_, allowed_rsv());
                    if (e != error{}) return {static_cast<std::size_t>(data - start), fail(e, h)};
                }
                const std::size_t need = header_size_from_byte1(scratch_[1]);
                const std::size_t take = take_bytes(data, n, need);
                data += take;
                n -= take;
                if (scratch_len_ < need) break;
                frame_header fh;
                std::size_t hl = 0;
                error e{};
                if (parse_header(scratch_, need, fh, hl, e) != parse_status::complete)
                    return {static_cast<std::size_t>(data - start), fail(e, h)};
                scratch_len_ = 0;
                e = begin_frame(fh);
                if (e != error{}) return {static_cast<std::size_t>(data - start), fail(e, h)};
                if (remaining_ == 0) {
                    e = on_payload(nullptr, 0, h);
                    if (e != error{}) return {static_cast<std::size_t>(data - start), fail(e, h)};
                }
            } else {
                const std::size_t k = remaining_ < n ? static_cast<std::size_t>(remaining_) : n;
                std::uint8_t* p = data;
                data += k;
                n -= k;
                const error e = on_payload(p, k, h);
                if (e != error{}) return {static_cast<std::size_t>(data - start), fail(e, h)};
            }
        }
        return {static_cast<std::size_t>(data - start), {}};
    }

  public:
    // Stops consume() after the current event (callable from the handler); resume() undoes it.
    void pause() noexcept { paused_ = true; }
    void resume() noexcept { paused_ = false; }
    bool paused() const noexcept { return paused_; }

    // ---- sending. Each appends complete frames to `out` (masked with a fresh key per frame
    // in the client role). A close frame, sent or received, ends sending (error::closed).

    std::error_code encode_text(std::string_view s, std::string& out) {
        return encode_message(opcode::text, s.data(), s.size(), out);
    }
    std::error_code encode_binary(const void* p, std::size_t n, std::string& out) {
        return encode_message(opcode::binary, p, n, out);
    }

    // A whole message (op = text or binary), split per options::fragment_size. An extension
    // that transforms outgoing messages (permessage-deflate) applies here, and to the
    // caller-buffer form below; encode_part and prepared frames always go out as they are.
    SLUICE_DECL std::error_code encode_message(opcode op, const void* p, std::size_t n, std::string& out);

    // Bytes encode_message needs for an n-byte payload under the current fragment size.
    SLUICE_DECL std::size_t encoded_size(std::size_t n) const noexcept;

    // Caller-buffer form: writes into out[0..cap), sets written.
    SLUICE_DECL std::error_code encode_message(opcode op, const void* p, std::size_t n, std::uint8_t* out,
                                   std::size_t cap, std::size_t& written);

    // The same checks as encode_message, then only the frame header (into out, at least
    // max_header_size bytes), for a payload that goes out as is: lets a server gather the header
    // with the caller's bytes instead of copying them. error::buffer_too_small when that is not
    // possible (client frames are masked; a message larger than fragment_size is split; an
    // extension transforms it): use encode_message then.
    SLUICE_DECL std::error_code encode_header(opcode op, const void* p, std::size_t n, std::uint8_t* out,
                                  std::size_t& written);

    // Whether a new message may be sent now (frames prepared elsewhere, e.g. one encoded
    // broadcast shared by many connections, must respect the same order rules).
    SLUICE_DECL std::error_code can_start_message(opcode op) const noexcept;

    // Streams one message in parts: the first call opens it with op (text or binary), later
    // calls continue it (op ignored), fin = true ends it. Control frames may be sent between
    // parts; another message may not.
    SLUICE_DECL std::error_code encode_part(opcode op, const void* p, std::size_t n, bool fin,
                                std::string& out);

    std::error_code encode_ping(std::string_view payload, std::string& out) {
        return encode_control(opcode::ping, payload, out);
    }
    std::error_code encode_pong(std::string_view payload, std::string& out) {
        return encode_control(opcode::pong, payload, out);
    }

    // Starts (or, from a close event handler, answers) the close handshake. code 1005
    // (close_code::no_status) sends an empty close body; otherwise code must be valid to send
    // and reason (<= 123 bytes) valid UTF-8.
    SLUICE_DECL std::error_code encode_close(std::uint16_t code, std::string_view reason, std::string& out);

    // ---- state
    role get_role() const noexcept { return role_; }
    bool close_sent() const noexcept { return close_sent_; }
    bool close_received() const noexcept { return close_received_; }
    // No more input will be processed (a close was received, or the connection failed).
    bool closed() const noexcept { return state_ == rx_state::closed; }
    // The transport should be closed now (a disconnect event was emitted).
    bool should_disconnect() const noexcept { return disconnect_; }
    std::error_code last_error() const noexcept {
        return err_ == error{} ? std::error_code{} : make_error_code(err_);
    }
    // Bytes held by the reassembly buffer (0 while idle).
    std::size_t buffered_capacity() const noexcept { return buf_.capacity(); }
    // Heap bytes the codec owns now for incoming data: the reassembly buffer and a split
    // control payload's block. 0 while idle. For memory accounting and tests.
    std::size_t footprint() const noexcept {
        return buf_.capacity() + (ctl_ ? std::size_t{max_control_payload} : 0);
    }

  private:
    enum class rx_state : std::uint8_t { header, payload, closed };

    std::uint8_t allowed_rsv() const noexcept {
        return ext_ ? static_cast<std::uint8_t>(ext_->rsv_bits() & 0x70u) : std::uint8_t{0};
    }

    SLUICE_DECL std::size_t take_bytes(const std::uint8_t* data, std::size_t n, std::size_t upto) noexcept;

    SLUICE_DECL error begin_frame(const frame_header& fh) noexcept;

    template <class Handler>
    struct sink_impl final : extension_sink {
        codec* c;
        Handler* h;
        sink_impl(codec* cc, Handler* hh) : c(cc), h(hh) {}
        error write(const std::uint8_t* d, std::size_t n) noexcept override {
            return c->deliver(d, n, false, *h);
        }
    };

    template <class Handler>
    error on_payload(std::uint8_t* p, std::size_t k, Handler& h) {
        remaining_ -= k;
        if (frame_masked_ && k != 0)
            phase_ = static_cast<std::uint8_t>(mask_inplace(p, k, mask_, phase_));
        const bool frame_done = remaining_ == 0;
        if (is_control(frame_op_)) {
            const std::uint8_t* cp = p;
            std::size_t cn = k;
            if (!frame_done || ctl_) {
                // A control payload split by reads: collect it in a small heap block that
                // lives only until the frame is complete (idle connections own none).
                if (!ctl_) {
                    ctl_.reset(static_cast<std::uint8_t*>(std::malloc(max_control_payload)));
                    if (!ctl_) std::abort(); // out of memory: nothing to throw
                    scratch_len_ = 0;
                }
                if (k != 0) std::memcpy(ctl_.get() + scratch_len_, p, k);
                scratch_len_ = static_cast<std::uint8_t>(scratch_len_ + k);
                if (!frame_done) return error{};
                cp = ctl_.get();
                cn = scratch_len_;
            }
            state_ = rx_state::header;
            const error e = handle_control(cp, cn, h);
            scratch_len_ = 0;
            ctl_.reset();
            return e;
        }
        if (frame_done) state_ = rx_state::header;
        const bool last = frame_done && frame_fin_;
        if (transformed_) {
            // Streamed (reassemble off): what the extension decodes from this piece is
            // collected and delivered as one fragment, so a handler that pauses after it
            // gets nothing more from this call (an inflater writes in many small chunks).
            sink_impl<Handler> sink(this, &h);
            collecting_ = !reassemble_;
            error e{};
            if (k != 0 || last) e = ext_->decode(p, k, last, sink);
            if (e == error{} && last) e = deliver(nullptr, 0, true, h);
            collecting_ = false;
            if (e == error{} && !buf_.empty() && !reassemble_) {
                emit(h, event_type::fragment, buf_.data(), buf_.size(), false);
                buf_.clear();
            }
            return e;
        }
        if (k == 0 && !last) return error{};
        return deliver(p, k, last, h);
    }

    template <class Handler>
    error deliver(const std::uint8_t* p, std::size_t k, bool last, Handler& h) {
        if (k > max_message_ - msg_size_) return error::message_too_big;
        msg_size_ += k;
        if (msg_op_ == opcode::text) {
            if (!rx_utf8_.feed(p, k)) return error::invalid_utf8;
            if (last && !rx_utf8_.complete()) return error::invalid_utf8;
        }
        if (!reassemble_ && !collecting_) {
            if (k != 0 || last) emit(h, event_type::fragment, p, k, last);
        } else if (last && msg_size_ == k && !collecting_) {
            emit(h, event_type::message, p, k, true); // the whole message is in this read
        } else {
            if (k != 0) {
                // Grown by what arrived, never by what a header announced: a peer that
                // declares a large frame and then trickles bytes (or none) costs what it
                // sent, not what it declared. Doubling keeps a large message at O(log n)
                // reallocations, and the capacity below twice the bytes received.
                const std::size_t need = buf_.size() + k;
                if (need > buf_.capacity()) {
                    std::size_t cap = buf_.capacity() * 2;
                    if (cap < need) cap = need;
                    if (cap > max_message_) cap = static_cast<std::size_t>(max_message_); // >= need
                    buf_.reserve(cap);
                }
                buf_.insert(buf_.end(), p, p + k);
            }
            if (last && collecting_) {
                emit(h, event_type::fragment, buf_.data(), buf_.size(), true);
                buf_.clear();
            } else if (last) {
                emit(h, event_type::message, buf_.data(), buf_.size(), true);
                buf_.clear(); // consume() frees or pools it
            }
        }
        if (last) {
            in_msg_ = false;
            transformed_ = false;
        }
        return error{};
    }

    template <class Handler>
    void emit(Handler& h, event_type t, const std::uint8_t* p, std::size_t n, bool fin) {
        event ev{t};
        ev.op = msg_op_;
        ev.fin = fin;
        ev.data = p;
        ev.size = n;
        h(static_cast<const event&>(ev));
    }

    template <class Handler>
    void emit_send(Handler& h, const std::uint8_t* p, std::size_t n) {
        event ev{event_type::send};
        ev.data = p;
        ev.size = n;
        h(static_cast<const event&>(ev));
    }

    template <class Handler>
    error handle_control(const std::uint8_t* p, std::size_t n, Handler& h) {
        event ev{event_type::ping};
        ev.op = frame_op_;
        ev.data = n ? p : nullptr;
        ev.size = n;
        if (frame_op_ == opcode::ping) {
            h(static_cast<const event&>(ev));
            if (auto_pong_ && !close_sent_) {
                std::uint8_t tmp[max_header_size + max_control_payload];
                emit_send(h, tmp, build_frame(tmp, opcode::pong, true, p, n));
            }
            return error{};
        }
        if (frame_op_ == opcode::pong) {
            ev.type = event_type::pong;
            h(static_cast<const event&>(ev));
            return error{};
        }
        // close
        std::uint16_t code = close_code::no_status;
        if (n == 1) return error::bad_close_payload;
        if (n >= 2) {
            code = static_cast<std::uint16_t>((p[0] << 8) | p[1]);
            if (!is_valid_close_code(code)) return error::bad_close_code;
            if (!util::is_valid_utf8(p + 2, n - 2)) return error::invalid_close_reason;
        }
        close_received_ = true;
        state_ = rx_state::closed;
        in_msg_ = false;
        std::vector<std::uint8_t>().swap(buf_);
        ev.type = event_type::close;
        ev.code = code;
        ev.data = n > 2 ? p + 2 : nullptr;
        ev.size = n > 2 ? n - 2 : 0;
        h(static_cast<const event&>(ev)); // the handler may answer with its own encode_close
        if (!close_sent_) {
            // Echo the status code unchanged (none if the peer sent none); no reason.
            std::uint8_t body[2];
            const std::size_t bn = code == close_code::no_status ? 0 : close_body(body, code, {});
            std::uint8_t tmp[max_header_size + 2];
            close_sent_ = true;
            emit_send(h, tmp, build_frame(tmp, opcode::close, true, body, bn));
        }
        if (role_ == role::server) emit_disconnect(h);
        return error{};
    }

    template <class Handler>
    void emit_disconnect(Handler& h) {
        if (disconnect_) return;
        disconnect_ = true;
        event ev{event_type::disconnect};
        h(static_cast<const event&>(ev));
    }

    template <class Handler>
    std::error_code fail(error e, Handler& h) {
        err_ = e;
        state_ = rx_state::closed;
        in_msg_ = false;
        std::vector<std::uint8_t>().swap(buf_);
        ctl_.reset();
        const std::uint16_t code = close_code_for(e);
        if (!close_sent_ && !close_received_ && code != 0) {
            std::uint8_t body[2];
            std::uint8_t tmp[max_header_size + 2];
            close_sent_ = true;
            emit_send(h, tmp,
                      build_frame(tmp, opcode::close, true, body, close_body(body, code, {})));
        }
        event ev{event_type::fail};
        ev.code = code;
        ev.ec = make_error_code(e);
        h(static_cast<const event&>(ev));
        emit_disconnect(h);
        return make_error_code(e);
    }

    SLUICE_DECL static std::size_t close_body(std::uint8_t* body, std::uint16_t code,
                                  std::string_view reason) noexcept;

    SLUICE_DECL std::size_t build_frame(std::uint8_t* out, opcode op, bool fin, const std::uint8_t* p,
                            std::size_t n, std::uint8_t rsv = 0);

    // rsv goes on the first frame only (RFC 7692 §6.1).
    SLUICE_DECL std::size_t write_frames(std::uint8_t* out, opcode first, const std::uint8_t* p, std::size_t n,
                             bool fin, std::uint8_t rsv = 0);

    // The checks every whole outgoing message passes.
    SLUICE_DECL std::error_code check_message(opcode op, const void* p, std::size_t n) const;

    // Runs the extension's transform when it wants this message: `tmp` then holds the
    // payload to send, and the result is the first frame's RSV bits (0: send p as it is).
    SLUICE_DECL std::uint8_t transform(opcode op, const void* p, std::size_t n, std::string& tmp);

    SLUICE_DECL std::error_code encode_control(opcode op, std::string_view payload, std::string& out);

    SLUICE_DECL void append_control(opcode op, const std::uint8_t* p, std::size_t n, std::string& out);

    // Configuration.
    std::uint64_t max_message_;
    extension* ext_;
    random_source rng_;
    std::uint32_t fragment_size_;
    // Receive side.
    std::uint64_t remaining_ = 0; // payload bytes left in the current frame
    std::uint64_t msg_size_ = 0;  // bytes of the current message so far
    std::vector<std::uint8_t> buf_;
    util::utf8_validator rx_utf8_;
    util::utf8_validator tx_utf8_;
    std::uint8_t mask_[4] = {0, 0, 0, 0};
    struct free_deleter {
        void operator()(std::uint8_t* p) const noexcept { std::free(p); }
    };
    // A control payload that spans reads (null otherwise).
    std::unique_ptr<std::uint8_t, free_deleter> ctl_;
    // The partial frame header while reading one; scratch_len_ also counts ctl_'s bytes.
    std::uint8_t scratch_[max_header_size];
    std::uint8_t scratch_len_ = 0;
    std::uint8_t phase_ = 0;
    role role_;
    bool reassemble_;
    bool auto_pong_;
    rx_state state_ = rx_state::header;
    opcode frame_op_ = opcode::continuation;
    opcode msg_op_ = opcode::binary;
    opcode out_op_ = opcode::binary;
    error err_{};
    bool frame_fin_ = false;
    bool frame_masked_ = false;
    bool in_msg_ = false;
    bool transformed_ = false;
    bool close_sent_ = false;
    bool close_received_ = false;
    bool out_msg_open_ = false;
    bool disconnect_ = false;
    bool paused_ = false;
    bool owns_ext_ = false; // ext_ came from adopt_extension()
    bool collecting_ = false; // streamed delivery of an extension's output, see on_payload
};

} // namespace ws
} // namespace sluice

#if SLUICE_COMPILE_BODIES
#include <sluice/ws/impl/codec.ipp>
#endif
