// sluice — WebSocket frame headers (RFC 6455 §5.2) and masking (§5.3).
#pragma once

#include <sluice/config.hpp>
#include <sluice/ws/error.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace sluice {
namespace ws {

enum class role : std::uint8_t { server, client };

enum class opcode : std::uint8_t {
    continuation = 0x0,
    text = 0x1,
    binary = 0x2,
    close = 0x8,
    ping = 0x9,
    pong = 0xA,
};

inline constexpr bool is_control(opcode op) noexcept {
    return (static_cast<unsigned>(op) & 8u) != 0;
}

inline constexpr bool is_known_opcode(unsigned op) noexcept {
    return op <= 2 || (op >= 8 && op <= 10);
}

// RSV bits as they sit in the first header byte.
inline constexpr std::uint8_t rsv1 = 0x40;
inline constexpr std::uint8_t rsv2 = 0x20;
inline constexpr std::uint8_t rsv3 = 0x10;

inline constexpr std::size_t max_header_size = 14;
inline constexpr std::size_t max_control_payload = 125;

struct frame_header {
    bool fin = true;
    std::uint8_t rsv = 0; // rsv1 | rsv2 | rsv3
    opcode op = opcode::text;
    bool masked = false;
    std::uint8_t mask[4] = {0, 0, 0, 0};
    std::uint64_t length = 0;
};

// Header length implied by the second header byte (mask bit and 7-bit length).
inline constexpr std::size_t header_size_from_byte1(std::uint8_t b1) noexcept {
    const unsigned len7 = b1 & 0x7Fu;
    return 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((b1 & 0x80u) ? 4 : 0);
}

inline constexpr std::size_t header_size(std::uint64_t length, bool masked) noexcept {
    return 2 + (length < 126 ? 0 : length <= 0xFFFF ? 2 : 8) + (masked ? 4 : 0);
}

// Serializes h (always with the minimal length form) into out, which must hold
// header_size(h.length, h.masked) bytes. Returns the bytes written.
SLUICE_DECL std::size_t write_header(std::uint8_t* out, const frame_header& h) noexcept;

// Checks that depend only on the first two header bytes and the role, so a bad frame fails
// before the rest of its header arrives. `allowed_rsv` is the set of RSV bits an extension
// negotiated; others fail here, the extension gets to veto the ones it owns.
SLUICE_DECL error check_header_prefix(std::uint8_t b0, std::uint8_t b1, role r,
                                      std::uint8_t allowed_rsv) noexcept;

enum class parse_status : std::uint8_t { complete, incomplete, invalid };

// Parses the wire form at p[0..n). Only the rules of the wire format itself are checked here
// (minimal length encoding, 64-bit MSB); opcode, RSV, masking and control-frame rules are in
// check_header_prefix, fragmentation rules in the codec. On `complete`, header_len is set.
SLUICE_DECL parse_status parse_header(const std::uint8_t* p, std::size_t n, frame_header& h,
                                      std::size_t& header_len, error& err) noexcept;

// XORs n bytes of src with the 4-byte key, starting at key byte `phase` (the payload offset
// modulo 4, so a payload delivered in pieces keeps its rotation), into dst; dst may equal src
// but must not otherwise overlap it. Returns the phase after the last byte.
//
// Word-at-a-time: the key is expanded to 8 (or 16) bytes in memory order, which makes the XOR
// independent of endianness; memcpy loads/stores keep it free of alignment and aliasing UB and
// compile to plain moves.
SLUICE_DECL std::size_t mask_copy(std::uint8_t* dst, const std::uint8_t* src, std::size_t n,
                                  const std::uint8_t key[4], std::size_t phase) noexcept;

SLUICE_DECL std::size_t mask_inplace(std::uint8_t* data, std::size_t n, const std::uint8_t key[4],
                                     std::size_t phase) noexcept;

// Writes one complete frame (header + payload, masked when h.masked) into out, which must hold
// header_size(h.length, h.masked) + h.length bytes. h.length must equal n.
SLUICE_DECL std::size_t write_frame(std::uint8_t* out, const frame_header& h, const void* payload,
                                    std::size_t n) noexcept;

} // namespace ws
} // namespace sluice

#if SLUICE_COMPILE_BODIES
#include <sluice/ws/impl/frame.ipp>
#endif
