// Separate compilation (SLUICE_SEPARATE_COMPILATION in every translation unit, bodies in
// impl.cpp): this unit drives the loop and TCP, a loopback echo of one message.
#include <sluice.hpp>

#include <string>
#include <string_view>

bool echo_over_loopback() {
    sluice::loop loop;
    sluice::tcp_listener listener(loop);
    if (listener.listen(sluice::endpoint::loopback_v4(0))) return false;
    std::error_code ec;
    const sluice::endpoint where = listener.local_endpoint(ec);
    if (ec) return false;
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
        client.write("separately");
        client.read_start([&](std::error_code re, std::string_view data) {
            if (re) return;
            reply.append(data);
            if (reply.size() == 10) client.close();
        });
    });
    loop.run();
    return reply == "separately";
}
