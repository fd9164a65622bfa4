// Shared by the four include-order checks: touches the public API widely enough that
// every header's inline code and the templates in use are parsed under the macros that
// <windows.h> defines (min, max, interface, small, DELETE, ERROR, ...).
#pragma once

inline int use_sluice() {
    sluice::loop l(sluice::backend::select);
    sluice::tcp_listener lst(l);
    sluice::tcp_stream s(l);
    sluice::udp_socket u(l);
    sluice::timer t(l);
    t.start(std::chrono::milliseconds(1), [](std::error_code) {});
    s.connect(sluice::endpoint::loopback_v4(1), [](std::error_code) {});
    sluice::http::server web(l);
    sluice::ws::server room(l);
    web.on_request([&](const sluice::http::request_view& req, sluice::http::response& res) {
        if (req.path() == "/ws")
            room.upgrade(req, res);
        else
            res.status(200).end("ok");
    });
    sluice::http::fetch(l, "http://127.0.0.1:1/",
                        [](std::error_code, sluice::http::client_response) {});
    sluice::loop_group group(2);
    std::error_code ec = sluice::platform::win32_category().default_error_condition(10061) ==
                                 std::errc::connection_refused
                             ? std::error_code()
                             : make_error_code(sluice::error::not_open);
    return ec ? 1 : static_cast<int>(l.run_for(std::chrono::milliseconds(1)));
}
