// The order Microsoft documents: <winsock2.h>, <ws2tcpip.h>, <windows.h>, then sluice.
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
#include <sluice.hpp>

#include "uses.hpp"

int main() {
    SOCKET s = sluice::invalid_socket; // native_socket is SOCKET
    return use_sluice() + static_cast<int>(s != INVALID_SOCKET);
}
