// sluice — HTTP error codes.
//
// Every rejection has its own code so a server can log exactly why a peer was
// refused, and suggested_status() maps each one to the status to answer before
// closing (a rejected message leaves the stream framing unknown: always close).
#pragma once

#include <sluice/config.hpp>

#include <string>
#include <system_error>

namespace sluice {
namespace http {

enum class error {
    // 0 is success in std::error_code; keep it unused.
    bad_method = 1,
    bad_target,
    bad_version,
    version_not_supported,
    bad_request_line,
    bad_status_line,
    bad_reason,
    bad_header_name,
    whitespace_before_colon,
    obs_fold,
    bad_header_value,
    nul_byte,
    bare_cr,
    bare_lf,
    missing_host,
    duplicate_host,
    bad_host,
    bad_content_length,
    duplicate_content_length,
    conflicting_content_length,
    content_length_with_transfer_encoding,
    transfer_encoding_not_chunked,
    unknown_transfer_coding,
    bad_transfer_encoding,
    transfer_encoding_http10,
    bad_chunk_size,
    chunk_size_overflow,
    bad_chunk_extension,
    chunk_extension_too_long,
    bad_chunk_end,
    request_line_too_long,
    head_too_large,
    too_many_headers,
    body_too_large,
    unexpected_eof,
    // URL helpers
    bad_percent_encoding,
    encoded_slash,
    path_escapes_root,
    bad_path,
    bad_url,
    // serializer
    invalid_field,
    buffer_too_small,
    // server
    not_upgradable,
    // parser (appended: the values above keep their numbers)
    connect_with_body,
    // pooled client (http::client)
    queue_full,
    too_many_redirects,
};

} // namespace http
} // namespace sluice

namespace std {
template <>
struct is_error_code_enum<sluice::http::error> : true_type {};
} // namespace std

namespace sluice {
namespace http {

namespace detail {

class http_category_impl final : public std::error_category {
  public:
    const char* name() const noexcept override { return "sluice.http"; }
    std::string message(int ev) const override {
        switch (static_cast<error>(ev)) {
        case error::bad_method:
            return "invalid character in request method";
        case error::bad_target:
            return "invalid character in request target";
        case error::bad_version:
            return "malformed HTTP version";
        case error::version_not_supported:
            return "HTTP major version not supported";
        case error::bad_request_line:
            return "malformed request line";
        case error::bad_status_line:
            return "malformed status line";
        case error::bad_reason:
            return "invalid character in reason phrase";
        case error::bad_header_name:
            return "invalid character in header field name";
        case error::whitespace_before_colon:
            return "whitespace between header field name and colon";
        case error::obs_fold:
            return "obsolete line folding in header field";
        case error::bad_header_value:
            return "invalid character in header field value";
        case error::nul_byte:
            return "NUL byte in message head";
        case error::bare_cr:
            return "CR not followed by LF";
        case error::bare_lf:
            return "LF without preceding CR";
        case error::missing_host:
            return "HTTP/1.1 request without Host header";
        case error::duplicate_host:
            return "more than one Host header";
        case error::bad_host:
            return "invalid character in Host header";
        case error::bad_content_length:
            return "invalid Content-Length value";
        case error::duplicate_content_length:
            return "duplicate Content-Length";
        case error::conflicting_content_length:
            return "differing Content-Length values";
        case error::content_length_with_transfer_encoding:
            return "both Content-Length and Transfer-Encoding present";
        case error::transfer_encoding_not_chunked:
            return "final transfer coding of a request is not chunked";
        case error::unknown_transfer_coding:
            return "unknown transfer coding";
        case error::bad_transfer_encoding:
            return "malformed Transfer-Encoding";
        case error::transfer_encoding_http10:
            return "Transfer-Encoding in an HTTP/1.0 message";
        case error::bad_chunk_size:
            return "invalid chunk size";
        case error::chunk_size_overflow:
            return "chunk size longer than 16 hex digits";
        case error::bad_chunk_extension:
            return "invalid character in chunk extension";
        case error::chunk_extension_too_long:
            return "chunk extension too long";
        case error::bad_chunk_end:
            return "chunk data not followed by CRLF";
        case error::request_line_too_long:
            return "request line too long";
        case error::head_too_large:
            return "message head too large";
        case error::too_many_headers:
            return "too many header fields";
        case error::body_too_large:
            return "message body too large";
        case error::unexpected_eof:
            return "connection closed in the middle of a message";
        case error::bad_percent_encoding:
            return "invalid percent-encoding";
        case error::encoded_slash:
            return "encoded slash or backslash in path";
        case error::path_escapes_root:
            return "path escapes the root";
        case error::bad_path:
            return "invalid path";
        case error::bad_url:
            return "malformed URL";
        case error::invalid_field:
            return "header name or value not allowed on the wire";
        case error::buffer_too_small:
            return "output buffer too small";
        case error::not_upgradable:
            return "the connection cannot be handed over (not an upgrade request, or an "
                   "earlier response is unfinished)";
        case error::connect_with_body:
            return "CONNECT request with Content-Length or Transfer-Encoding";
        case error::queue_full:
            return "too many requests already wait for a connection to this origin";
        case error::too_many_redirects:
            return "too many redirects";
        }
        return "unknown sluice.http error";
    }
};

} // namespace detail

SLUICE_DECL const std::error_category& http_category() noexcept;

SLUICE_DECL std::error_code make_error_code(error e) noexcept;

// The status a server should answer (then close) when a request fails to parse.
SLUICE_DECL int suggested_status(error e) noexcept;

SLUICE_DECL int suggested_status(const std::error_code& ec) noexcept;

} // namespace http
} // namespace sluice

#if SLUICE_COMPILE_BODIES
#include <sluice/http/impl/error.ipp>
#endif
