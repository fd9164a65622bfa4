// The second translation unit: same inline functions, same tables, one program.
#include <sluice.hpp>

#include <string>

bool parse_in_b() {
    std::error_code ec;
    auto ep = sluice::endpoint::parse("127.0.0.1", 80, ec);
    sluice::http::message_storage<8> msg;
    sluice::http::parser p(sluice::http::parser::request, msg);
    std::string req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    auto r = p.feed(req.data(), req.size());
    return !ec && ep.port() == 80 && r.ev == sluice::http::event::head;
}
