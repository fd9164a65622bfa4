// sluice — out-of-line bodies of sluice/ws/deflate.hpp: compiled in every translation unit when
// header-only, only in the SLUICE_IMPLEMENTATION one under SLUICE_SEPARATE_COMPILATION (which
// must then include <sluice/ws/deflate.hpp> too, or define SLUICE_WITH_ZLIB).
#pragma once

#include <sluice/ws/deflate.hpp>

#include <cstdlib>
#include <cstring>

namespace sluice {
namespace ws {
namespace detail {

inline int clamp_bits(int v, int lo) noexcept { return v < lo ? lo : v > 15 ? 15 : v; }

// 8..15, digits only, no leading zero (RFC 7692 §7.1.2).
inline int parse_window_bits(std::string_view v) noexcept {
    if (v.size() == 1 && v[0] >= '8' && v[0] <= '9') return v[0] - '0';
    if (v.size() == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5') return 10 + (v[1] - '0');
    return -1;
}

} // namespace detail

SLUICE_DECL deflate_parse parse_deflate_params(std::string_view element,
                                               deflate_params& out) noexcept {
    out = deflate_params{};
    std::size_t semi = element.find(';');
    if (!iequals(trim_ows(element.substr(0, semi)), "permessage-deflate"))
        return deflate_parse::other;
    while (semi != std::string_view::npos) {
        element.remove_prefix(semi + 1);
        semi = element.find(';');
        const std::string_view param = trim_ows(element.substr(0, semi));
        const std::size_t eq = param.find('=');
        const std::string_view name = trim_ows(param.substr(0, eq));
        std::string_view value;
        const bool has_value = eq != std::string_view::npos;
        if (has_value) {
            value = trim_ows(param.substr(eq + 1));
            // A quoted string must hold a token after unquoting (RFC 6455 §9.1); window
            // bits are digits, so an escape or an empty quote can only be malformed.
            if (!value.empty() && value.front() == '"') {
                if (value.size() < 3 || value.back() != '"') return deflate_parse::invalid;
                value = value.substr(1, value.size() - 2);
                if (value.find_first_of("\"\\") != std::string_view::npos)
                    return deflate_parse::invalid;
            }
            if (value.empty()) return deflate_parse::invalid;
        }
        if (name == "server_no_context_takeover" || name == "client_no_context_takeover") {
            bool& flag = name[0] == 's' ? out.server_no_context_takeover
                                        : out.client_no_context_takeover;
            if (flag || has_value) return deflate_parse::invalid;
            flag = true;
        } else if (name == "server_max_window_bits" || name == "client_max_window_bits") {
            const bool server = name[0] == 's';
            bool& seen = server ? out.has_server_max_window_bits : out.has_client_max_window_bits;
            int& bits = server ? out.server_max_window_bits : out.client_max_window_bits;
            if (seen) return deflate_parse::invalid;
            seen = true;
            if (has_value) {
                bits = detail::parse_window_bits(value);
                if (bits < 0) return deflate_parse::invalid;
            } else if (server) {
                return deflate_parse::invalid; // server_max_window_bits always has a value
            }
        } else {
            return deflate_parse::invalid; // unknown (or empty) parameter
        }
    }
    return deflate_parse::ok;
}

SLUICE_DECL bool negotiate_deflate_offer(const header_list& request, const deflate_settings& cfg,
                                         deflate_agreement& out, std::string& response) {
    response.clear();
    if (!cfg.enabled) return false;
    return request.for_each_element("Sec-WebSocket-Extensions", [&](std::string_view el) {
        deflate_params p;
        if (parse_deflate_params(el, p) != deflate_parse::ok) return false; // try the next
        deflate_agreement a;
        a.own_window_bits = detail::clamp_bits(cfg.window_bits, 9);
        if (p.has_server_max_window_bits && p.server_max_window_bits < a.own_window_bits)
            a.own_window_bits = p.server_max_window_bits; // 8: we send uncompressed
        bool limit_client = false;
        if (p.has_client_max_window_bits) {
            const int offered = p.client_max_window_bits ? p.client_max_window_bits : 15;
            a.peer_window_bits = detail::clamp_bits(cfg.peer_window_bits, 8);
            if (offered < a.peer_window_bits) a.peer_window_bits = offered;
            limit_client = a.peer_window_bits < 15;
        }
        a.own_no_context_takeover = cfg.no_context_takeover || p.server_no_context_takeover;
        // The client's own hint is made binding by echoing it (RFC 7692 §7.1.1.2).
        a.peer_no_context_takeover = cfg.peer_no_context_takeover || p.client_no_context_takeover;
        response = "permessage-deflate";
        if (a.own_no_context_takeover) response += "; server_no_context_takeover";
        if (a.peer_no_context_takeover) response += "; client_no_context_takeover";
        if (p.has_server_max_window_bits || a.own_window_bits < 15)
            response += "; server_max_window_bits=" + std::to_string(a.own_window_bits);
        if (limit_client)
            response += "; client_max_window_bits=" + std::to_string(a.peer_window_bits);
        out = a;
        return true;
    });
}

SLUICE_DECL std::string make_deflate_offer(const deflate_settings& cfg) {
    if (!cfg.enabled) return {};
    std::string offer = "permessage-deflate";
    if (cfg.no_context_takeover) offer += "; client_no_context_takeover";
    if (cfg.peer_no_context_takeover) offer += "; server_no_context_takeover";
    const int peer = detail::clamp_bits(cfg.peer_window_bits, 8);
    if (peer < 15) offer += "; server_max_window_bits=" + std::to_string(peer);
    const int own = detail::clamp_bits(cfg.window_bits, 9);
    offer += "; client_max_window_bits";
    if (own < 15) offer += "=" + std::to_string(own);
    return offer;
}

SLUICE_DECL std::error_code check_deflate_response(const header_list& response,
                                                   const deflate_settings& cfg,
                                                   deflate_agreement& out, bool& accepted) {
    accepted = false;
    std::size_t n = 0;
    std::string_view chosen;
    response.for_each_element("Sec-WebSocket-Extensions", [&](std::string_view el) {
        if (n++ == 0) chosen = el;
        return false;
    });
    if (n == 0) return {};
    deflate_params p;
    // We offered exactly one extension once: anything else, or more, fails (RFC 6455 §4.1).
    if (!cfg.enabled || n > 1) return error::unexpected_extension;
    const deflate_parse r = parse_deflate_params(chosen, p);
    if (r == deflate_parse::other) return error::unexpected_extension;
    if (r == deflate_parse::invalid) return error::bad_extension_response;
    const int own = detail::clamp_bits(cfg.window_bits, 9);
    const int peer = detail::clamp_bits(cfg.peer_window_bits, 8);
    // client_max_window_bits: we offered it; a response must give a value within ours.
    if (p.has_client_max_window_bits && (p.client_max_window_bits == 0 || p.client_max_window_bits > own))
        return error::bad_extension_response;
    if (p.has_server_max_window_bits && p.server_max_window_bits > peer)
        return error::bad_extension_response;
    // What we asked of the server, an accepting server must confirm (RFC 7692 §7.1.1.1, §7.1.2.1).
    if (peer < 15 && !p.has_server_max_window_bits) return error::bad_extension_response;
    if (cfg.peer_no_context_takeover && !p.server_no_context_takeover)
        return error::bad_extension_response;
    deflate_agreement a;
    a.own_window_bits = p.has_client_max_window_bits ? p.client_max_window_bits : own;
    a.peer_window_bits = p.has_server_max_window_bits ? p.server_max_window_bits : 15;
    a.own_no_context_takeover = cfg.no_context_takeover || p.client_no_context_takeover;
    a.peer_no_context_takeover = p.server_no_context_takeover;
    out = a;
    accepted = true;
    return {};
}

namespace detail {

// zlib's allocator: counts what each stream (and the pool) holds. A header before each
// block remembers its size, since zfree is not told it.
inline voidpf zlib_alloc(voidpf opaque, uInt items, uInt size) {
    const std::size_t n = static_cast<std::size_t>(items) * size;
    auto* h = static_cast<std::size_t*>(std::malloc(n + 16));
    if (!h) return Z_NULL;
    h[0] = n;
    auto* s = static_cast<zstream*>(opaque);
    s->bytes += n;
    s->pool->bytes += n;
    return reinterpret_cast<unsigned char*>(h) + 16;
}

inline void zlib_free(voidpf opaque, voidpf p) {
    if (!p) return;
    auto* h = reinterpret_cast<std::size_t*>(static_cast<unsigned char*>(p) - 16);
    auto* s = static_cast<zstream*>(opaque);
    s->bytes -= h[0];
    s->pool->bytes -= h[0];
    std::free(h);
}

SLUICE_DECL zlib_pool::~zlib_pool() {
    for (zstream* s : idle) destroy(s);
}

SLUICE_DECL zstream* zlib_pool::take(bool deflater, int bits) {
    {
        std::lock_guard<std::mutex> lock(m);
        for (std::size_t i = 0; i < idle.size(); ++i) {
            zstream* s = idle[i];
            if (s->deflater != deflater || s->bits != bits) continue;
            idle[i] = idle.back();
            idle.pop_back();
            return s;
        }
    }
    auto* s = new zstream;
    s->pool = this;
    s->bits = bits;
    s->deflater = deflater;
    s->s.zalloc = zlib_alloc;
    s->s.zfree = zlib_free;
    s->s.opaque = s;
    bytes += sizeof(zstream);
    // Negative window bits: raw DEFLATE, no zlib header or checksum (RFC 7692 §7.2).
    const int rc = deflater ? deflateInit2(&s->s, cfg.level, Z_DEFLATED, -bits,
                                           cfg.mem_level < 1 ? 1 : cfg.mem_level > 9 ? 9
                                                                                     : cfg.mem_level,
                                           Z_DEFAULT_STRATEGY)
                            : inflateInit2(&s->s, -bits);
    if (rc != Z_OK) {
        bytes -= sizeof(zstream);
        delete s;
        return nullptr;
    }
    return s;
}

SLUICE_DECL void zlib_pool::give(zstream* s) noexcept {
    if (!s) return;
    {
        std::lock_guard<std::mutex> lock(m);
        std::size_t same = 0;
        for (zstream* x : idle) same += x->deflater == s->deflater ? 1 : 0;
        if (same < cfg.pool_size) {
            if (s->deflater)
                deflateReset(&s->s);
            else
                inflateReset(&s->s);
            idle.push_back(s);
            return;
        }
    }
    destroy(s);
}

SLUICE_DECL void zlib_pool::destroy(zstream* s) noexcept {
    if (!s) return;
    if (s->deflater)
        deflateEnd(&s->s);
    else
        inflateEnd(&s->s);
    s->pool->bytes -= sizeof(zstream);
    delete s;
}

} // namespace detail

SLUICE_DECL deflate_extension::~deflate_extension() {
    // A stream left mid-message (the connection failed) is not reused.
    detail::zlib_pool::destroy(def_);
    detail::zlib_pool::destroy(inf_);
}

SLUICE_DECL error deflate_extension::on_header(std::uint8_t rsv, opcode op, bool) noexcept {
    if (rsv != rsv1 || is_control(op) || op == opcode::continuation) return error::extension_failed;
    return error{};
}

SLUICE_DECL error deflate_extension::inflate_some(const std::uint8_t* data, std::size_t n,
                                                  extension_sink& out) noexcept {
    // Bytes after a final block (BFINAL, RFC 7692 §7.2.3.4: padding, our tail) mean nothing.
    if (n == 0 || inflate_ended_) return error{};
    unsigned char buf[8192];
    z_stream& z = inf_->s;
    z.next_in = const_cast<Bytef*>(data); // zlib's API is not const, it does not write there
    z.avail_in = 0; // not what a final block left unread
    while (true) {
        // avail_in is a uInt: feed a huge frame in pieces.
        const std::size_t chunk = n > (1u << 30) ? (1u << 30) : n;
        if (z.avail_in == 0) {
            z.avail_in = static_cast<uInt>(chunk);
            n -= chunk;
        }
        z.next_out = buf;
        z.avail_out = sizeof buf;
        const int rc = inflate(&z, Z_SYNC_FLUSH);
        const std::size_t produced = sizeof buf - z.avail_out;
        if (produced != 0) {
            const error e = out.write(buf, produced);
            if (e != error{}) return e; // e.g. past max_message_size: stop inflating now
        }
        if (rc == Z_STREAM_END) {
            inflate_ended_ = true;
            return error{};
        }
        if (rc != Z_OK && rc != Z_BUF_ERROR) return error::bad_compressed_data;
        if (z.avail_in == 0 && n == 0 && z.avail_out != 0) return error{};
        if (rc == Z_BUF_ERROR && z.avail_out != 0) return error::bad_compressed_data;
    }
}

SLUICE_DECL error deflate_extension::decode(const std::uint8_t* data, std::size_t n, bool last,
                                            extension_sink& out) noexcept {
    if (!inf_) {
        inf_ = pool_->take(false, detail::clamp_bits(a_.peer_window_bits, 9));
        if (!inf_) return error::bad_compressed_data; // zlib could not allocate
        inflate_ended_ = false;
    }
    error e = inflate_some(data, n, out);
    if (e != error{} || !last) return e;
    // RFC 7692 §7.2.2: the sender removed the empty stored block's 00 00 FF FF; put it back
    // (unless the message ended its stream with a final block, §7.2.3.5).
    static const std::uint8_t tail[4] = {0x00, 0x00, 0xFF, 0xFF};
    if (!inflate_ended_) e = inflate_some(tail, 4, out);
    if (e != error{}) return e;
    if (a_.peer_no_context_takeover) {
        pool_->give(inf_);
        inf_ = nullptr;
    } else if (inflate_ended_) {
        // A final block ended the stream; the next message still refers to this window.
        unsigned char dict[32768];
        uInt len = sizeof dict;
        if (inflateGetDictionary(&inf_->s, dict, &len) != Z_OK || inflateReset(&inf_->s) != Z_OK ||
            inflateSetDictionary(&inf_->s, dict, len) != Z_OK)
            return error::bad_compressed_data;
        inflate_ended_ = false;
    }
    return error{};
}

SLUICE_DECL bool deflate_extension::transforms(opcode op, std::size_t n) const noexcept {
    // An empty message goes out as it is: there is nothing to gain, and zlib refuses a sync
    // flush with no input right after another one (Z_BUF_ERROR, no output).
    return (op == opcode::text || op == opcode::binary) && !broken_ && a_.own_window_bits >= 9 &&
           n != 0 && n >= pool_->cfg.min_size;
}

SLUICE_DECL std::uint8_t deflate_extension::encode(opcode, const std::uint8_t* p, std::size_t n,
                                                   std::string& out) noexcept {
    if (!def_) def_ = pool_->take(true, a_.own_window_bits);
    if (!def_) return 0; // zlib could not allocate: this message goes out as it is
    z_stream& z = def_->s;
    const std::size_t old = out.size();
    out.resize(old + deflateBound(&z, static_cast<uLong>(n > (1u << 30) ? (1u << 30) : n)) + 16);
    z.next_in = const_cast<Bytef*>(p);
    z.avail_in = 0;
    std::size_t left = n;
    std::size_t w = old;
    bool ok = true;
    while (ok) {
        if (z.avail_in == 0 && left != 0) {
            const std::size_t chunk = left > (1u << 30) ? (1u << 30) : left;
            z.avail_in = static_cast<uInt>(chunk);
            left -= chunk;
        }
        if (w == out.size()) out.resize(out.size() + out.size() / 2 + 64);
        const std::size_t room = out.size() - w;
        z.next_out = reinterpret_cast<Bytef*>(&out[w]);
        z.avail_out = static_cast<uInt>(room > (1u << 30) ? (1u << 30) : room);
        const uInt before = z.avail_out;
        const int rc = deflate(&z, left != 0 ? Z_NO_FLUSH : Z_SYNC_FLUSH);
        w += before - z.avail_out;
        if (rc != Z_OK && rc != Z_BUF_ERROR) ok = false;
        // Flushed once all input is in and zlib left room in the output (zlib's rule).
        else if (left == 0 && z.avail_in == 0 && z.avail_out != 0) break;
    }
    // A sync flush ends in an empty stored block, 00 00 FF FF, which is not sent (§7.2.1).
    if (!ok || w < old + 4 || std::memcmp(&out[w - 4], "\x00\x00\xFF\xFF", 4) != 0) {
        // Our history may now differ from the peer's: never compress on this connection
        // again (uncompressed messages do not touch the peer's inflater).
        broken_ = true;
        out.resize(old);
        detail::zlib_pool::destroy(def_);
        def_ = nullptr;
        return 0;
    }
    out.resize(w - 4);
    if (a_.own_no_context_takeover) {
        pool_->give(def_);
        def_ = nullptr;
        // No history to keep in step: a message that did not shrink goes out as it is.
        if (out.size() - old >= n) {
            out.resize(old);
            return 0;
        }
    }
    return rsv1;
}

SLUICE_DECL std::unique_ptr<extension> permessage_deflate::accept_offer(const header_list& request,
                                                                        std::string& response) {
    deflate_agreement a;
    if (!negotiate_deflate_offer(request, pool_->cfg, a, response)) return nullptr;
    return std::unique_ptr<extension>(new deflate_extension(pool_, a));
}

SLUICE_DECL void permessage_deflate::make_offer(std::string& offer) {
    offer = make_deflate_offer(pool_->cfg);
}

SLUICE_DECL std::unique_ptr<extension> permessage_deflate::accept_response(
    const header_list& response, std::error_code& ec) {
    deflate_agreement a;
    bool accepted = false;
    ec = check_deflate_response(response, pool_->cfg, a, accepted);
    if (ec || !accepted) return nullptr;
    return std::unique_ptr<extension>(new deflate_extension(pool_, a));
}

} // namespace ws
} // namespace sluice
