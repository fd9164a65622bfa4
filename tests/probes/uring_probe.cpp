// Configure-time probe (tests/CMakeLists.txt): exits 0 when a loop asked for io_uring
// really runs on it here, else prints why it fell back.
#include <sluice.hpp>

#include <cstdio>

int main() {
    sluice::loop l(sluice::backend::io_uring);
    if (!l.status() && l.backend_kind() == sluice::backend::io_uring) return 0;
    std::printf("%s\n", l.status() ? l.status().message().c_str() : l.backend_note().c_str());
    return 1;
}
