// The TLS tests' certificates: made once per test binary by make_certs.sh (openssl req) in
// a fresh temporary folder.
#pragma once

#include <cstdlib>
#include <stdexcept>
#include <string>

#include <unistd.h>

namespace tls_test {

inline const std::string& cert_dir() {
    static const std::string dir = [] {
        char tmpl[] = "/tmp/sluice-tls-XXXXXX";
        if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
        std::string cmd = std::string("bash '") + SLUICE_SOURCE_DIR + "/tests/tls/make_certs.sh' " + tmpl;
        if (std::system(cmd.c_str()) != 0) throw std::runtime_error("make_certs.sh failed");
        return std::string(tmpl);
    }();
    return dir;
}
inline std::string cert_file(const char* name) { return cert_dir() + "/" + name; }

} // namespace tls_test
