// sluice alone: it must bring in everything it needs itself, in a working order, and a
// later <windows.h> (already included by then) changes nothing.
#include <sluice.hpp>

#include "uses.hpp"

int main() {
    static_assert(std::is_same<sluice::native_socket, SOCKET>::value, "SOCKET handles");
    return use_sluice();
}
