// sluice — WebSocket errors as std::error_code, and the close code each protocol error sends.
#pragma once

#include <sluice/config.hpp>

#include <cstdint>
#include <string>
#include <system_error>
#include <type_traits>

namespace sluice {
namespace ws {

// Close status codes (RFC 6455 §7.4.1 and the IANA registry).
namespace close_code {
inline constexpr std::uint16_t normal = 1000;
inline constexpr std::uint16_t going_away = 1001;
inline constexpr std::uint16_t protocol_error = 1002;
inline constexpr std::uint16_t unsupported_data = 1003;
inline constexpr std::uint16_t no_status = 1005; // never on the wire: "the close had no code"
inline constexpr std::uint16_t abnormal = 1006;  // never on the wire: "no close frame at all"
inline constexpr std::uint16_t invalid_payload = 1007;
inline constexpr std::uint16_t policy_violation = 1008;
inline constexpr std::uint16_t message_too_big = 1009;
inline constexpr std::uint16_t mandatory_extension = 1010;
inline constexpr std::uint16_t internal_error = 1011;
inline constexpr std::uint16_t service_restart = 1012;
inline constexpr std::uint16_t try_again_later = 1013;
inline constexpr std::uint16_t bad_gateway = 1014;
} // namespace close_code

// Codes that may appear in a close frame, in either direction: 1000-1003, 1007-1014 (1004 is
// reserved; 1005, 1006 and 1015 are local-only), and 3000-4999 (registered and private use).
// 0-999, 1016-2999 and >= 5000 are not allowed; RFC 6455 leaves >= 5000 undefined, we fail it.
inline constexpr bool is_valid_close_code(std::uint16_t c) noexcept {
    return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
}

enum class error : std::uint8_t {
    // Peer protocol violations: the connection is failed with the close code in close_code_for.
    reserved_bits = 1,
    unknown_opcode,
    unmasked_frame,
    masked_frame,
    fragmented_control,
    control_too_long,
    non_minimal_length,
    length_msb_set,
    unexpected_continuation,
    expected_continuation,
    bad_close_payload,
    bad_close_code,
    invalid_utf8,
    invalid_close_reason,
    message_too_big,
    extension_failed,
    // Local usage errors: nothing is sent to the peer.
    closed,
    message_in_progress,
    no_message_in_progress,
    payload_too_long,
    invalid_close_code,
    buffer_too_small,
    too_many_topics,
    topic_too_long,
    // Handshake failures (server side: the status in http_status_for; client side: fail).
    bad_method,
    bad_http_version,
    missing_host,
    missing_upgrade,
    missing_connection_upgrade,
    bad_key,
    bad_version,
    origin_rejected,
    bad_status,
    bad_accept,
    unexpected_subprotocol,
    unexpected_extension,
    // Later additions, numbered after the rest so existing values stay put.
    bad_compressed_data,    // peer: a compressed message does not inflate (1007)
    bad_extension_response, // client: the server's extension parameters are invalid
};

namespace detail {
class ws_category_impl final : public std::error_category {
  public:
    const char* name() const noexcept override { return "sluice.ws"; }
    std::string message(int ev) const override {
        switch (static_cast<error>(ev)) {
        case error::reserved_bits:
            return "frame has RSV bits set that no extension negotiated";
        case error::unknown_opcode:
            return "frame has a reserved opcode";
        case error::unmasked_frame:
            return "client frame is not masked";
        case error::masked_frame:
            return "server frame is masked";
        case error::fragmented_control:
            return "control frame is fragmented";
        case error::control_too_long:
            return "control frame payload is longer than 125 bytes";
        case error::non_minimal_length:
            return "payload length is not minimally encoded";
        case error::length_msb_set:
            return "64-bit payload length has its most significant bit set";
        case error::unexpected_continuation:
            return "continuation frame without a message to continue";
        case error::expected_continuation:
            return "new data frame while a fragmented message is open";
        case error::bad_close_payload:
            return "close frame payload of one byte";
        case error::bad_close_code:
            return "close frame carries an invalid status code";
        case error::invalid_utf8:
            return "text message is not valid UTF-8";
        case error::invalid_close_reason:
            return "close reason is not valid UTF-8";
        case error::message_too_big:
            return "message exceeds the maximum message size";
        case error::extension_failed:
            return "extension rejected the frame";
        case error::closed:
            return "close frame already sent or received";
        case error::message_in_progress:
            return "a fragmented outgoing message is still open";
        case error::no_message_in_progress:
            return "no fragmented outgoing message to continue";
        case error::payload_too_long:
            return "control frame payload longer than 125 bytes";
        case error::invalid_close_code:
            return "close code may not be sent";
        case error::buffer_too_small:
            return "output buffer too small";
        case error::too_many_topics:
            return "connection is subscribed to settings::max_topics topics already";
        case error::topic_too_long:
            return "topic name is empty or longer than settings::max_topic_size";
        case error::bad_method:
            return "handshake request method is not GET";
        case error::bad_http_version:
            return "handshake requires HTTP/1.1 or later";
        case error::missing_host:
            return "handshake request needs exactly one Host header";
        case error::missing_upgrade:
            return "Upgrade header does not contain websocket";
        case error::missing_connection_upgrade:
            return "Connection header does not contain upgrade";
        case error::bad_key:
            return "Sec-WebSocket-Key is not base64 of 16 bytes";
        case error::bad_version:
            return "Sec-WebSocket-Version is not 13";
        case error::origin_rejected:
            return "Origin rejected";
        case error::bad_status:
            return "handshake response status is not 101";
        case error::bad_accept:
            return "Sec-WebSocket-Accept does not match the key";
        case error::unexpected_subprotocol:
            return "server selected a subprotocol that was not offered";
        case error::unexpected_extension:
            return "server selected an extension that was not offered";
        case error::bad_compressed_data:
            return "compressed message is not valid DEFLATE data";
        case error::bad_extension_response:
            return "server's extension parameters are invalid for the offer";
        }
        return "unknown sluice.ws error";
    }
};
} // namespace detail

SLUICE_DECL const std::error_category& ws_category() noexcept;

SLUICE_DECL std::error_code make_error_code(error e) noexcept;

// The close code to send when failing the connection for `e`; 0 when `e` is not a peer
// protocol violation (local usage or handshake errors send no close frame).
inline constexpr std::uint16_t close_code_for(error e) noexcept {
    switch (e) {
    case error::invalid_utf8:
    case error::invalid_close_reason:
    case error::bad_compressed_data:
        return close_code::invalid_payload;
    case error::message_too_big:
        return close_code::message_too_big;
    default:
        break;
    }
    if (static_cast<int>(e) >= static_cast<int>(error::reserved_bits) &&
        static_cast<int>(e) <= static_cast<int>(error::extension_failed))
        return close_code::protocol_error;
    return 0;
}

// The HTTP status a server answers a failed handshake with.
inline constexpr int http_status_for(error e) noexcept {
    switch (e) {
    case error::bad_method:
        return 405;
    case error::bad_version:
        return 426;
    case error::origin_rejected:
        return 403;
    default:
        return 400;
    }
}

} // namespace ws
} // namespace sluice

namespace std {
template <>
struct is_error_code_enum<sluice::ws::error> : true_type {};
} // namespace std

#if SLUICE_COMPILE_BODIES
#include <sluice/ws/impl/error.ipp>
#endif
