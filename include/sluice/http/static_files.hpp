// sluice — serving a directory over http::server (http::static_files).
//
//     http::router r;
//     r.get("/{path...}", http::static_files("./public")); // or under a prefix:
//     http::router assets;
//     assets.get("/{path...}", http::static_files("./assets"));
//     r.mount("/assets", std::move(assets));
//     server.on_request(http::static_files("./public"));   // without a router
//
// Under a router the file is the route's last parameter when the pattern ends with a
// wildcard ("{path...}"), else the whole path; as a server handler, the whole path.
//
// What it answers:
//   - GET and HEAD (same headers, no body); anything else 405 with `Allow: GET, HEAD`.
//   - 200 with Content-Length, Content-Type from the extension (a small table; others
//     application/octet-stream), Last-Modified, ETag, Accept-Ranges: bytes.
//   - ETag is weak, W/"<size>-<mtime in ns>": size and modification time do not prove
//     two versions are byte-identical (a rewrite of the same size within the clock's
//     resolution keeps both), and RFC 9110 §8.8.1 reserves strong tags for that proof.
//     So If-Range with an ETag never matches (strong comparison) and answers the whole
//     file; If-Range with the exact Last-Modified date does match.
//   - If-None-Match (weak comparison, or "*") -> 304; only without it, If-Modified-Since
//     (IMF-fixdate) -> 304 when the file is not newer (RFC 9110 §13.2.2).
//   - One range `bytes=a-b`, `a-` or `-n` -> 206 with Content-Range; a range starting past
//     the end (or `-0`, or any range of an empty file) -> 416 with `bytes */size`. Several
//     ranges, or a malformed Range field, are ignored: 200 with the whole file (no
//     multipart/byteranges).
//   - A directory: its index file (index.html) when the path ends in '/'; the path without
//     the '/' is redirected (301) to it, so relative links in the page resolve; no index:
//     404. No listings.
//   - 404 for what is missing AND for every path refused as unsafe: '..' or '.'
//     segments (also when percent-encoded), an encoded '/' (%2F) or '\' (%5C), any '\',
//     NUL, ':' (Windows drive letters and alternate streams), a segment made only of dots
//     and spaces (Windows strips those), or a file whose real path (symbolic links
//     resolved) is outside the root's real path. 404 rather than 403 so that a probe
//     cannot tell "refused" from "absent". A router answers 400 first for some of these
//     (a raw '..' segment, an invalid escape, %00): still never the file. Files over
//     static_settings::max_file_size: 403.
//
// Containment: the candidate's real path (realpath(3)) must be the root's real path or
// below it; that one check covers "..", absolute links and links to links, on every
// POSIX system. openat2(RESOLVE_BENEATH) would also close the race with someone
// swapping a directory for a link between the check and open(), but it is Linux-only;
// the root is assumed not writable by whoever sends requests. On Windows see
// platform/file.hpp (links are not followed by the check).
//
// The body, on Linux: sendfile(2) from the file to the socket (response::send_file), only
// while this response is the connection's first unfinished one and nothing is queued
// ahead, so the file's bytes follow the head and every earlier byte, in order. When the
// socket is full one chunk is read and written instead (queued, it makes the wait for an
// empty queue a wait for the socket: response::wait_flushed). Elsewhere, and behind
// another pipelined response: read in static_settings::chunk_size pieces and written with
// response::write, pausing while the write queue is high (response::on_drain). Memory per
// transfer is one chunk plus the server's write limits, whatever the file's size. A read
// or sendfile that fails, or a file that shrank, ends the response early, which closes
// the connection: the client sees a cut body, never a hole.
#pragma once

#include <sluice/http/router.hpp>
#include <sluice/http/server.hpp>
#include <sluice/platform/file.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace sluice {
namespace http {

struct static_settings {
    std::size_t chunk_size = 64 * 1024; // the read buffer of one transfer
    std::uint64_t max_file_size = std::uint64_t(1) << 40; // larger files: 403
    std::string index_file = "index.html";                // empty: directories are 404
    std::string cache_control;                            // sent when not empty
};

namespace static_detail {

// A single byte range, resolved against the file's size: [first, first + length).
struct byte_range {
    std::uint64_t first = 0;
    std::uint64_t length = 0;
};
enum class range_kind {
    whole,         // no Range, several ranges, or one we ignore (malformed): 200
    partial,       // 206 with `out`
    unsatisfiable, // 416
};
SLUICE_DECL range_kind parse_range(std::string_view field, std::uint64_t size, byte_range& out);

// The request's path, still percent-encoded, made into a path relative to the root
// ("a/b.txt"; "" for the root itself; a trailing '/' kept: "sub/"). False for a path
// refused as unsafe (see the top of the file).
SLUICE_DECL bool relative_path(std::string_view raw, std::string& out);
// The same for a path already decoded (a router's wildcard parameter) whose raw form
// passed raw_path_clean().
SLUICE_DECL bool decoded_relative_path(std::string_view decoded, std::string& out);
// No encoded '/', '\' or NUL in the raw path, and every escape valid.
SLUICE_DECL bool raw_path_clean(std::string_view raw) noexcept;

// IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"): 29 characters into `out`.
SLUICE_DECL void format_http_date(std::int64_t unix_seconds, char out[29]) noexcept;
// IMF-fixdate only (the obsolete forms are treated as absent, as an invalid date is).
SLUICE_DECL bool parse_http_date(std::string_view text, std::int64_t& unix_seconds) noexcept;

// W/"<size hex>-<mtime ns hex>".
SLUICE_DECL std::string make_etag(std::uint64_t size, std::int64_t mtime_sec,
                                  std::uint32_t mtime_nsec);
// If-None-Match: "*" or a list of entity tags, compared weakly with `etag`.
SLUICE_DECL bool none_match_hits(std::string_view field, std::string_view etag) noexcept;

SLUICE_DECL std::string_view content_type(std::string_view path) noexcept;

struct static_root {
    std::string root_real; // the root's real path, without a trailing '/'
    bool usable = false;
    static_settings settings;
};

// Serves `rel` (from relative_path) for the request `v`; `safe` false: the path was
// refused (404, after the method check).
SLUICE_DECL void serve_file(const static_root& root, const request_view& v, bool safe,
                            std::string_view rel, response& res);

} // namespace static_detail

// A handler serving a directory: copyable (copies share the root), usable as a router
// route handler and as a server request handler. See the top of the file.
class static_files {
  public:
    // The root is resolved once, here; a root that does not exist answers 404 to all.
    explicit static_files(const std::string& root, static_settings settings = {})
        : root_(std::make_shared<static_detail::static_root>()) {
        root_->settings = std::move(settings);
        std::string real;
        if (!platform::real_path(root, real)) {
            while (real.size() > 1 && real.back() == '/') real.pop_back();
            root_->root_real = std::move(real);
            root_->usable = true;
        }
    }

    bool usable() const noexcept { return root_->usable; }

    void operator()(route_request& req, response& res) const {
        std::string rel;
        const std::string_view pattern = req.pattern();
        const bool wildcard = pattern.size() > 4 && pattern.substr(pattern.size() - 4) == "...}";
        bool ok;
        if (wildcard && req.param_count() > 0)
            ok = static_detail::raw_path_clean(req.path()) &&
                 static_detail::decoded_relative_path(req.param_value(req.param_count() - 1),
                                                      rel);
        else
            ok = static_detail::relative_path(req.path(), rel);
        static_detail::serve_file(*root_, req.view(), ok, rel, res);
    }
    void operator()(const request_view& req, response& res) const {
        std::string rel;
        const bool ok = static_detail::relative_path(req.path(), rel);
        static_detail::serve_file(*root_, req, ok, rel, res);
    }

  private:
    std::shared_ptr<static_detail::static_root> root_;
};

} // namespace http
} // namespace sluice

#if SLUICE_COMPILE_BODIES
#include <sluice/http/impl/static_files.ipp>
#endif
