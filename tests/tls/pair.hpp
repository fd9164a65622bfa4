// Two engines joined in memory: each one's output is fed to the other, with no socket.
// Used by the engine tests of every adapter and by the cross-adapter tests.
#pragma once

#include <sluice/tls/engine.hpp>

#include <doctest/doctest.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>

namespace tls_test {

inline std::string slurp(const std::string& path) {
    std::ifstream f(path);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

// Moves each engine's output to the other and steps the handshakes until neither moves.
struct pair_run {
    std::unique_ptr<sluice::tls::engine> client, server;
    sluice::tls::handshake_status cs = sluice::tls::handshake_status::want_input;
    sluice::tls::handshake_status ss = sluice::tls::handshake_status::want_input;

    void pump() {
        for (int round = 0; round < 20; ++round) {
            if (cs != sluice::tls::handshake_status::failed) cs = client->handshake();
            std::string c2s, s2c;
            client->take_output(c2s);
            server->feed(c2s.data(), c2s.size());
            if (ss != sluice::tls::handshake_status::failed) ss = server->handshake();
            server->take_output(s2c);
            client->feed(s2c.data(), s2c.size());
            if (c2s.empty() && s2c.empty()) return;
        }
    }
    // Plaintext from one engine to the other through ciphertext.
    static std::string send(sluice::tls::engine& from, sluice::tls::engine& to, const std::string& text) {
        REQUIRE_FALSE(from.write(text.data(), text.size()));
        std::string wire;
        from.take_output(wire);
        CHECK(wire.find(text) == std::string::npos); // not in clear
        to.feed(wire.data(), wire.size());
        std::string got;
        char buf[4096];
        std::error_code ec;
        while (std::size_t n = to.read(buf, sizeof buf, ec)) got.append(buf, n);
        CHECK_FALSE(ec);
        return got;
    }
};

} // namespace tls_test
