// sluice — permessage-deflate (RFC 7692) on zlib: opt-in, the only part of sluice that needs
// a library (link -lz). Not included by <sluice.hpp> unless SLUICE_WITH_ZLIB is defined first;
// or include <sluice/ws/deflate.hpp> itself.
//
//     auto pmd = std::make_shared<ws::permessage_deflate>(ws::deflate_settings{});
//     wss.config().extensions = pmd;              // a ws::server: accepts offers
//     opts.settings.extensions = pmd;             // ws::connect: offers it
//
// Memory. A compressor with context takeover keeps its zlib state between messages: about
// (1 << (window_bits + 2)) + (1 << (mem_level + 9)) bytes plus ~6 KB (268 KB at 15/8, 14 KB
// at 10/3); an inflater keeps 1 << window_bits bytes plus ~7 KB (39 KB at 15). Without
// context takeover (the defaults, both directions) a connection holds no zlib state while
// idle: a stream is taken for one message from a small pool shared by the negotiator's
// connections (pool_size per direction) and given back when the message ends.
//
// Limits. The inflated size is what counts against options::max_message_size: output goes
// to the codec in chunks of at most 8 KB and the message fails with 1009 the moment it passes
// the limit, so a "zip bomb" (a few KB that inflate to GBs) costs the limit at most.
//
// zlib cannot compress with a raw 256-byte window (windowBits 8): a window_bits of 8 is used
// as 9, and a connection whose peer limits our compressor to 8 bits sends uncompressed
// messages (RSV1 clear is always valid). Our inflater never uses fewer than 9 bits either
// (a larger window accepts everything a smaller one does), because some peers' zlib quietly
// compresses with 9 when asked for 8.
#pragma once

#include <sluice/config.hpp>
#include <sluice/ws/error.hpp>
#include <sluice/ws/extension.hpp>
#include <sluice/ws/frame.hpp>
#include <sluice/ws/handshake.hpp>

#include <zlib.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace sluice {
namespace ws {

// Per server (or per client) settings. "own" is the compressor of this endpoint, "peer" the
// other side's (whose output our inflater reads).
struct deflate_settings {
    bool enabled = true;
    // Our compressor's LZ77 window, 9..15 (8 is used as 9; see the top of this file).
    int window_bits = 15;
    // The window we ask the peer to compress with, 8..15 (15: no request). A server can only
    // ask this of a client whose offer carries client_max_window_bits.
    int peer_window_bits = 15;
    // zlib memLevel of our compressor, 1..9: memory against speed and ratio.
    int mem_level = 8;
    // zlib compression level, 0..9 (-1: zlib's default, 6).
    int level = Z_DEFAULT_COMPRESSION;
    // Messages shorter than this go out uncompressed (RSV1 clear).
    std::size_t min_size = 64;
    // Our compressor starts afresh for every message (we announce it: server_ or
    // client_no_context_takeover): no compressor state while idle, a worse ratio on small
    // similar messages.
    bool no_context_takeover = true;
    // Ask the peer to do the same, so that our inflater keeps nothing between messages.
    bool peer_no_context_takeover = true;
    // Idle zlib streams kept for reuse per direction by the connections that use no context
    // takeover (shared by all connections of this negotiator).
    std::size_t pool_size = 2;
};

// The parameters of one permessage-deflate offer or response (RFC 7692 §7.1). A window-bits
// value of 0 means the parameter came without a value.
struct deflate_params {
    bool server_no_context_takeover = false;
    bool client_no_context_takeover = false;
    bool has_server_max_window_bits = false;
    bool has_client_max_window_bits = false;
    int server_max_window_bits = 0;
    int client_max_window_bits = 0;
};

enum class deflate_parse : std::uint8_t {
    ok,          // permessage-deflate with valid parameters
    other,       // another extension
    invalid,     // permessage-deflate, but unknown, duplicate or malformed parameters
};

// One element of Sec-WebSocket-Extensions: `permessage-deflate; param[=value]; ...`. Values may
// be tokens or quoted strings (RFC 6455 §9.1); window bits are 8..15 without leading zeros;
// server_max_window_bits needs a value, client_max_window_bits may go without in an offer.
SLUICE_DECL deflate_parse parse_deflate_params(std::string_view element,
                                               deflate_params& out) noexcept;

// What one connection uses, once negotiated.
struct deflate_agreement {
    int own_window_bits = 15;  // our compressor; 8 means "do not compress" (zlib cannot)
    int peer_window_bits = 15; // our inflater (raised to 9 when used, see above)
    bool own_no_context_takeover = false;
    bool peer_no_context_takeover = false;
};

// Server: the first acceptable permessage-deflate offer among the request's (malformed ones
// are declined, RFC 7692 §5, and the next is tried). On acceptance sets `response` to the
// Sec-WebSocket-Extensions value to send and returns true.
SLUICE_DECL bool negotiate_deflate_offer(const header_list& request, const deflate_settings& cfg,
                                         deflate_agreement& out, std::string& response);

// Client: the offer's Sec-WebSocket-Extensions value.
SLUICE_DECL std::string make_deflate_offer(const deflate_settings& cfg);

// Client: checks the response against the offer make_deflate_offer(cfg) made. `accepted` is
// false when the server took no extension; an error means the connection must fail.
SLUICE_DECL std::error_code check_deflate_response(const header_list& response,
                                                   const deflate_settings& cfg,
                                                   deflate_agreement& out, bool& accepted);

namespace detail {

struct zlib_pool;

// One z_stream and the bytes zlib allocated for it (counted by our allocator).
struct zstream {
    z_stream s{};
    zlib_pool* pool = nullptr;
    std::size_t bytes = 0;
    int bits = 0;
    bool deflater = false;
};

// Shared by a negotiator and its connections' extensions (which may outlive it).
struct zlib_pool {
    explicit zlib_pool(const deflate_settings& c) noexcept : cfg(c) {}
    SLUICE_DECL ~zlib_pool();
    zlib_pool(const zlib_pool&) = delete;
    zlib_pool& operator=(const zlib_pool&) = delete;

    // A fresh (or reset) stream; null when zlib fails (out of memory, bad parameters).
    SLUICE_DECL zstream* take(bool deflater, int bits);
    // Resets s and keeps it for reuse (or frees it beyond pool_size).
    SLUICE_DECL void give(zstream* s) noexcept;
    SLUICE_DECL static void destroy(zstream* s) noexcept;

    deflate_settings cfg;
    std::mutex m; // a negotiator may be shared by the servers of several loops
    std::vector<zstream*> idle;
    std::atomic<std::size_t> bytes{0}; // allocated by zlib (and our z_stream wrappers) now
};

} // namespace detail

// The extension of one connection.
class deflate_extension final : public extension {
  public:
    deflate_extension(std::shared_ptr<detail::zlib_pool> pool, const deflate_agreement& a) noexcept
        : pool_(std::move(pool)), a_(a) {}
    SLUICE_DECL ~deflate_extension() override;
    deflate_extension(const deflate_extension&) = delete;
    deflate_extension& operator=(const deflate_extension&) = delete;

    std::uint8_t rsv_bits() const noexcept override { return rsv1; }
    // RSV1 only on the first frame of a data message (RFC 7692 §6.1): on a control frame or
    // a continuation it fails the connection with 1002.
    SLUICE_DECL error on_header(std::uint8_t rsv, opcode op, bool fin) noexcept override;
    SLUICE_DECL error decode(const std::uint8_t* data, std::size_t n, bool last,
                             extension_sink& out) noexcept override;
    SLUICE_DECL bool transforms(opcode op, std::size_t n) const noexcept override;
    SLUICE_DECL std::uint8_t encode(opcode op, const std::uint8_t* p, std::size_t n,
                                    std::string& out) noexcept override;

    const deflate_agreement& agreement() const noexcept { return a_; }
    // zlib bytes this connection holds now (0 between messages without context takeover).
    std::size_t zlib_bytes() const noexcept {
        return (def_ ? def_->bytes : 0) + (inf_ ? inf_->bytes : 0);
    }

  private:
    SLUICE_DECL error inflate_some(const std::uint8_t* data, std::size_t n,
                                   extension_sink& out) noexcept;

    std::shared_ptr<detail::zlib_pool> pool_;
    detail::zstream* def_ = nullptr;
    detail::zstream* inf_ = nullptr;
    deflate_agreement a_;
    bool inflate_ended_ = false; // the peer's message ended its DEFLATE stream (BFINAL)
    bool broken_ = false;        // our compressor failed: everything goes out uncompressed
};

// The negotiator to put in ws::settings::extensions (server and client alike).
class permessage_deflate final : public extension_negotiator {
  public:
    explicit permessage_deflate(const deflate_settings& s = {})
        : pool_(std::make_shared<detail::zlib_pool>(s)) {}

    SLUICE_DECL std::unique_ptr<extension> accept_offer(const header_list& request,
                                                        std::string& response) override;
    SLUICE_DECL void make_offer(std::string& offer) override;
    SLUICE_DECL std::unique_ptr<extension> accept_response(const header_list& response,
                                                           std::error_code& ec) override;

    const deflate_settings& config() const noexcept { return pool_->cfg; }
    // Bytes zlib holds now for all of this negotiator's connections and its pool.
    std::size_t zlib_bytes() const noexcept { return pool_->bytes.load(); }

  private:
    std::shared_ptr<detail::zlib_pool> pool_;
};

} // namespace ws
} // namespace sluice

#if SLUICE_COMPILE_BODIES
#include <sluice/ws/impl/deflate.ipp>
#endif
