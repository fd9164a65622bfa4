// Separate compilation: this unit uses the sans-I/O protocol code, whose bodies are
// compiled only in impl.cpp.
#include <sluice.hpp>

#include <string_view>

bool protocols_work() {
    sluice::proxy::header h;
    const bool proxy_ok = sluice::proxy::parse("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n", h).status ==
                              sluice::proxy::parse_status::complete &&
                          h.source.port() == 1;
    sluice::http::message_storage<8> msg;
    sluice::http::parser p(sluice::http::parser::request, msg);
    const std::string_view req = "GET /x HTTP/1.1\r\nHost: y\r\n\r\n";
    const bool http_ok = p.feed(req.data(), req.size()).ev == sluice::http::event::head &&
                         msg.target == "/x";
    // RFC 6455 section 1.3's example key and accept value.
    const bool ws_ok = sluice::ws::compute_accept("dGhlIHNhbXBsZSBub25jZQ==") ==
                       "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
    return proxy_ok && http_ok && ws_ok;
}
