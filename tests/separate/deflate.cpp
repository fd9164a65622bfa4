// Separate compilation with the opt-in permessage-deflate: this unit (like impl.cpp, which
// compiles the bodies) defines SLUICE_WITH_ZLIB; the other units do not and see sluice
// without zlib. One compressed message goes from a client codec to a server codec.
#define SLUICE_WITH_ZLIB 1
#include <sluice.hpp>

#include <memory>
#include <string>
#include <vector>

bool deflate_works() {
    namespace ws = sluice::ws;
    ws::deflate_settings s;
    auto server_pmd = std::make_shared<ws::permessage_deflate>(s);
    auto client_pmd = std::make_shared<ws::permessage_deflate>(s);
    std::string offer, answer;
    client_pmd->make_offer(offer);
    std::vector<ws::header_field> f = {{"Sec-WebSocket-Extensions", offer}};
    ws::codec server(ws::role::server), client(ws::role::client);
    server.adopt_extension(server_pmd->accept_offer(ws::header_list(f), answer));
    f[0].value = answer;
    std::error_code ec;
    client.adopt_extension(client_pmd->accept_response(ws::header_list(f), ec));
    if (ec || !server.get_extension() || !client.get_extension()) return false;
    const std::string text(10000, 'z');
    std::string wire;
    if (client.encode_text(text, wire) || wire.size() > 1000) return false; // compressed
    std::string got;
    server.feed(reinterpret_cast<std::uint8_t*>(&wire[0]), wire.size(),
                [&](const ws::event& e) {
                    if (e.type == ws::event_type::message) got.assign(e.view());
                });
    return got == text;
}
