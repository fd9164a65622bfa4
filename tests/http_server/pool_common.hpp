// What the pooled client's tests (pool_test.cpp, pool_body_test.cpp) share: one request's
// outcome and the handler that fills it in.
#pragma once

#include "common.hpp"

namespace pool_test {

struct outcome {
    int calls = 0;
    std::error_code ec;
    sluice::http::client_response res;
};

inline sluice::http::fetch_handler into(outcome& o) {
    return [&o](std::error_code ec, sluice::http::client_response r) {
        ++o.calls;
        o.ec = ec;
        o.res = std::move(r);
    };
}

} // namespace pool_test
