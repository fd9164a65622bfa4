// Compiled with -fsyntax-only and SLUICE_HAS_KQUEUE=1 against the stub <sys/event.h>:
// the kqueue backend and the runtime choice of it must at least build on Linux.
#include <sluice.hpp>

static_assert(SLUICE_HAS_KQUEUE == 1, "forcing a feature on with SLUICE_HAS_X=1 must work");

int main() {
    sluice::loop loop(sluice::backend::kqueue);
    return loop.status() ? 1 : 0;
}
