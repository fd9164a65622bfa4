// sluice — the hook a negotiated extension (e.g. permessage-deflate, RFC 7692) plugs into.
//
// Why a hook rather than a hard-coded RSV check: without an extension every RSV bit fails the
// connection (1002); with one, the bits it negotiated are handed to it, it decides which frames
// may carry them, and it transforms the payload of messages that use them. The codec still
// does UTF-8 validation and the max-message-size limit on the *transformed* bytes.
#pragma once

#include <sluice/config.hpp>
#include <sluice/ws/error.hpp>
#include <sluice/ws/frame.hpp>

#include <cstddef>
#include <cstdint>

namespace sluice {
namespace ws {

class extension_sink {
  public:
    // Accepts transformed message bytes; a non-zero error means stop (the codec fails with it).
    virtual error write(const std::uint8_t* data, std::size_t n) noexcept = 0;

  protected:
    ~extension_sink() = default;
};

class extension {
  public:
    virtual ~extension() = default;

    // RSV bits (rsv1/rsv2/rsv3) this extension negotiated. Other bits still fail with 1002.
    virtual std::uint8_t rsv_bits() const noexcept = 0;

    // A frame whose header carries some of rsv_bits(). Return error{} to accept; otherwise the
    // connection fails with close_code_for(result) (use error::extension_failed for 1002).
    virtual error on_header(std::uint8_t rsv, opcode op, bool fin) noexcept = 0;

    // Inbound payload of a message whose first frame carried RSV bits, in arrival order
    // (already unmasked). `last` marks the final bytes of the message. Write the decoded
    // bytes to `out`; propagate any error it returns.
    virtual error decode(const std::uint8_t* data, std::size_t n, bool last,
                         extension_sink& out) noexcept = 0;
};

} // namespace ws
} // namespace sluice
