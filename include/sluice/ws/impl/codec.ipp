// sluice — out-of-line bodies of sluice/ws/codec.hpp: compiled in every translation unit when
// header-only, only in the SLUICE_IMPLEMENTATION one under SLUICE_SEPARATE_COMPILATION.
#pragma once

#include <sluice/ws/codec.hpp>

namespace sluice {
namespace ws {

SLUICE_DECL std::error_code codec::encode_message(opcode op, const void* p, std::size_t n,
                                                  std::string& out) {
    std::string tmp;
    if (const std::error_code ec = check_message(op, p, n)) return ec;
    const std::uint8_t rsv = transform(op, p, n, tmp);
    if (rsv != 0) {
        p = tmp.data();
        n = tmp.size();
    }
    const std::size_t old = out.size();
    out.resize(old + encoded_size(n));
    const std::size_t w = write_frames(reinterpret_cast<std::uint8_t*>(&out[0]) + old, op,
                                       static_cast<const std::uint8_t*>(p), n, true, rsv);
    out.resize(old + w);
    return {};
}

SLUICE_DECL std::error_code codec::check_message(opcode op, const void* p, std::size_t n) const {
    if (close_sent_) return error::closed;
    if (out_msg_open_) return error::message_in_progress;
    if (op != opcode::text && op != opcode::binary) return error::unknown_opcode;
    if (op == opcode::text && !util::is_valid_utf8(p, n)) return error::invalid_utf8;
    return {};
}

SLUICE_DECL std::uint8_t codec::transform(opcode op, const void* p, std::size_t n,
                                          std::string& tmp) {
    if (!ext_ || !ext_->transforms(op, n)) return 0;
    return ext_->encode(op, static_cast<const std::uint8_t*>(p), n, tmp);
}

SLUICE_DECL std::size_t codec::encoded_size(std::size_t n) const noexcept {
    const bool m = role_ == role::client;
    if (fragment_size_ == 0 || n <= fragment_size_) return header_size(n, m) + n;
    const std::size_t full = n / fragment_size_, rest = n % fragment_size_;
    return full * header_size(fragment_size_, m) + (rest ? header_size(rest, m) : 0) + n;
}

SLUICE_DECL std::error_code codec::encode_message(opcode op, const void* p, std::size_t n,
                                                  std::uint8_t* out, std::size_t cap,
                                                  std::size_t& written) {
    written = 0;
    if (const std::error_code ec = check_message(op, p, n)) return ec;
    std::string tmp;
    // The extension may shrink or grow the payload: checked against cap once transformed.
    const std::uint8_t rsv = transform(op, p, n, tmp);
    if (rsv != 0) {
        p = tmp.data();
        n = tmp.size();
    }
    if (cap < encoded_size(n)) return error::buffer_too_small;
    written = write_frames(out, op, static_cast<const std::uint8_t*>(p), n, true, rsv);
    return {};
}

SLUICE_DECL std::error_code codec::encode_header(opcode op, const void* p, std::size_t n,
                                                 std::uint8_t* out, std::size_t& written) {
    written = 0;
    if (const std::error_code ec = can_start_message(op)) return ec;
    if (role_ == role::client || (fragment_size_ != 0 && n > fragment_size_) ||
        (ext_ && ext_->transforms(op, n)))
        return error::buffer_too_small;
    if (op == opcode::text && !util::is_valid_utf8(p, n)) return error::invalid_utf8;
    frame_header fh;
    fh.fin = true;
    fh.op = op;
    fh.length = n;
    written = write_header(out, fh);
    return {};
}

SLUICE_DECL std::error_code codec::can_start_message(opcode op) const noexcept {
    if (close_sent_) return error::closed;
    if (out_msg_open_) return error::message_in_progress;
    if (op != opcode::text && op != opcode::binary) return error::unknown_opcode;
    return {};
}

SLUICE_DECL std::error_code codec::encode_part(opcode op, const void* p, std::size_t n, bool fin,
                                               std::string& out) {
    if (close_sent_) return error::closed;
    const auto* bytes = static_cast<const std::uint8_t*>(p);
    opcode first = opcode::continuation;
    if (!out_msg_open_) {
        if (op != opcode::text && op != opcode::binary) return error::unknown_opcode;
        first = op;
        out_op_ = op;
        tx_utf8_.reset();
    }
    if (out_op_ == opcode::text) {
        util::utf8_validator v = tx_utf8_;
        if (!v.feed(bytes, n) || (fin && !v.complete())) return error::invalid_utf8;
        tx_utf8_ = v;
    }
    const std::size_t old = out.size();
    out.resize(old + encoded_size(n));
    const std::size_t w =
        write_frames(reinterpret_cast<std::uint8_t*>(&out[0]) + old, first, bytes, n, fin);
    out.resize(old + w);
    out_msg_open_ = !fin;
    return {};
}

SLUICE_DECL std::error_code codec::encode_close(std::uint16_t code, std::string_view reason,
                                                std::string& out) {
    if (close_sent_) return error::closed;
    std::uint8_t body[max_control_payload];
    std::size_t n = 0;
    if (code == close_code::no_status) {
        if (!reason.empty()) return error::invalid_close_code;
    } else {
        if (!is_valid_close_code(code)) return error::invalid_close_code;
        if (reason.size() > max_control_payload - 2) return error::payload_too_long;
        if (!util::is_valid_utf8(reason)) return error::invalid_utf8;
        n = close_body(body, code, reason);
    }
    append_control(opcode::close, body, n, out);
    close_sent_ = true;
    return {};
}

SLUICE_DECL std::size_t codec::take_bytes(const std::uint8_t* data, std::size_t n,
                                          std::size_t upto) noexcept {
    std::size_t take = upto - scratch_len_;
    if (take > n) take = n;
    std::memcpy(scratch_ + scratch_len_, data, take);
    scratch_len_ = static_cast<std::uint8_t>(scratch_len_ + take);
    return take;
}

SLUICE_DECL error codec::begin_frame(const frame_header& fh) noexcept {
    if (fh.rsv != 0) {
        // check_header_prefix already rejected bits outside allowed_rsv(), so ext_ is set.
        const error e = ext_->on_header(fh.rsv, fh.op, fh.fin);
        if (e != error{}) return e;
    }
    if (!is_control(fh.op)) {
        if (fh.op == opcode::continuation) {
            if (!in_msg_) return error::unexpected_continuation;
        } else {
            if (in_msg_) return error::expected_continuation;
            in_msg_ = true;
            msg_op_ = fh.op;
            msg_size_ = 0;
            rx_utf8_.reset();
            transformed_ = fh.rsv != 0;
        }
        if (!transformed_ && fh.length > max_message_ - msg_size_) return error::message_too_big;
    }
    frame_op_ = fh.op;
    frame_fin_ = fh.fin;
    frame_masked_ = fh.masked;
    std::memcpy(mask_, fh.mask, 4);
    phase_ = 0;
    remaining_ = fh.length;
    state_ = rx_state::payload;
    return error{};
}

SLUICE_DECL std::size_t codec::close_body(std::uint8_t* body, std::uint16_t code,
                                          std::string_view reason) noexcept {
    body[0] = static_cast<std::uint8_t>(code >> 8);
    body[1] = static_cast<std::uint8_t>(code);
    if (!reason.empty()) std::memcpy(body + 2, reason.data(), reason.size());
    return 2 + reason.size();
}

SLUICE_DECL std::size_t codec::build_frame(std::uint8_t* out, opcode op, bool fin,
                                           const std::uint8_t* p, std::size_t n,
                                           std::uint8_t rsv) {
    frame_header fh;
    fh.fin = fin;
    fh.rsv = rsv;
    fh.op = op;
    fh.length = n;
    fh.masked = role_ == role::client;
    if (fh.masked) rng_(fh.mask, 4);
    return write_frame(out, fh, p, n);
}

SLUICE_DECL std::size_t codec::write_frames(std::uint8_t* out, opcode first, const std::uint8_t* p,
                                            std::size_t n, bool fin, std::uint8_t rsv) {
    const std::size_t frag = fragment_size_ == 0 ? n : fragment_size_;
    std::size_t w = 0;
    opcode op = first;
    do {
        const std::size_t k = n < frag ? n : frag;
        w += build_frame(out + w, op, fin && k == n, p, k, rsv);
        p += k;
        n -= k;
        op = opcode::continuation;
        rsv = 0;
    } while (n != 0);
    return w;
}

SLUICE_DECL std::error_code codec::encode_control(opcode op, std::string_view payload,
                                                  std::string& out) {
    if (close_sent_) return error::closed;
    if (payload.size() > max_control_payload) return error::payload_too_long;
    append_control(op, reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size(), out);
    return {};
}

SLUICE_DECL void codec::append_control(opcode op, const std::uint8_t* p, std::size_t n,
                                       std::string& out) {
    std::uint8_t tmp[max_header_size + max_control_payload];
    const std::size_t w = build_frame(tmp, op, true, p, n);
    out.append(reinterpret_cast<const char*>(tmp), w);
}
} // namespace ws
} // namespace sluice
