// libFuzzer target for the mbedTLS engine adapter (include/sluice/tls/mbedtls.hpp): the
// OpenSSL one (tls_engine.cpp) with the mbedTLS client and server; same modes, same
// invariants, same corpus (fuzz/corpus/tls). Link -lmbedtls -lmbedx509 -lmbedcrypto, and
// -lssl -lcrypto for the throwaway certificate.
#define SLUICE_FUZZ_TLS_MBEDTLS 1
#include "tls_engine.cpp"
