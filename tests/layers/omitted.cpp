// Built once per layer opt-out of <sluice.hpp> (tests/CMakeLists.txt), against include/
// and against the generated single header. Each layer left out must be absent: its
// names are defined again here, as something else, which does not compile while the
// layer is there. What is left must work: a loopback echo, and one call into each
// layer still present. Exits 0 when all of it holds.
#include <sluice.hpp>

#include <string>
#include <string_view>

#if defined(SLUICE_NO_GROUP)
namespace sluice {
struct loop_group {
    int left_out;
};
} // namespace sluice
#endif
#if defined(SLUICE_NO_PROXY)
namespace sluice::proxy {
struct header {
    int left_out;
};
} // namespace sluice::proxy
#endif
#if defined(SLUICE_NO_HTTP)
namespace sluice::http {
struct parser {
    int left_out;
};
} // namespace sluice::http
#endif
#if defined(SLUICE_NO_WEBSOCKET) || defined(SLUICE_NO_HTTP) // NO_HTTP implies it
namespace sluice::ws {
struct codec {
    int left_out;
};
inline int compute_accept(int left_out) { return left_out; }
} // namespace sluice::ws
#endif

static bool layers_left_in_work() {
    bool ok = true;
#if !defined(SLUICE_NO_GROUP)
    ok = ok && sizeof(sluice::loop_group) > sizeof(int);
#endif
#if !defined(SLUICE_NO_PROXY)
    sluice::proxy::header h;
    ok = ok && sluice::proxy::parse("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n", h).status ==
                   sluice::proxy::parse_status::complete &&
         h.source.port() == 1;
#endif
#if !defined(SLUICE_NO_HTTP)
    sluice::http::message_storage<8> msg;
    sluice::http::parser p(sluice::http::parser::request, msg);
    const std::string_view req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    ok = ok && p.feed(req.data(), req.size()).ev == sluice::http::event::head;
#endif
#if !defined(SLUICE_NO_WEBSOCKET) && !defined(SLUICE_NO_HTTP)
    // RFC 6455 section 1.3's example key and accept value.
    ok = ok && sluice::ws::compute_accept("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
#endif
    return ok;
}

int main() {
    if (!layers_left_in_work()) return 2;
    sluice::loop loop;
    sluice::tcp_listener listener(loop);
    if (listener.listen(sluice::endpoint::loopback_v4(0))) return 3;
    std::error_code ec;
    const sluice::endpoint where = listener.local_endpoint(ec);
    if (ec) return 4;
    sluice::tcp_stream served;
    listener.accept([&](std::error_code e, sluice::tcp_stream s) {
        if (e) return;
        served = std::move(s);
        listener.close();
        served.read_start([&](std::error_code re, std::string_view data) {
            if (re) return served.close();
            served.write(data);
        });
    });
    sluice::tcp_stream client(loop);
    std::string reply;
    client.connect(where, [&](std::error_code ce) {
        if (ce) return loop.stop();
        client.write("hello");
        client.read_start([&](std::error_code re, std::string_view data) {
            if (re) return;
            reply.append(data);
            if (reply.size() == 5) client.close();
        });
    });
    loop.run();
    return reply == "hello" ? 0 : 1;
}
