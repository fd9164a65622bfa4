// A forgotten co_await must not compile under -Werror: every awaitable type and every
// function returning one is [[nodiscard]]. check.cmake compiles this file twice:
//   - as is: every line starting with KEEP discards one awaitable, and each such line must
//     get its own -Wunused-result diagnostic (the compile fails);
//   - with -DSLUICE_KEEP_ALL: KEEP casts to void, and the file must compile cleanly (so
//     each expression is valid and nothing else fails the first compile).
// The "type" cases go through value_of(), which has no attribute of its own: only the
// awaitable type's [[nodiscard]] can flag them.
#include <sluice.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#if defined(SLUICE_KEEP_ALL)
#define KEEP (void)
#else
#define KEEP
#endif

sluice::task<int> user_task(); // a user's coroutine, declared without [[nodiscard]]

namespace {

using namespace std::chrono_literals;

template <class F>
auto value_of(F f) -> decltype(f()) {
    return f();
}

[[maybe_unused]] void discard_each(sluice::loop& l, sluice::tcp_stream& s,
                                   sluice::tcp_listener& lis, sluice::timer& t,
                                   sluice::udp_socket& u, const sluice::ws::connection& c,
                                   sluice::cancellation_token tok, sluice::tls_stream& ts,
                                   sluice::tls_listener& tl,
                                   std::shared_ptr<sluice::tls::context> ctx) {
    char buf[8];
    const sluice::endpoint ep = sluice::endpoint::loopback_v4(1);
    const auto tp = sluice::loop::clock::now();
    const std::string url = "ws://127.0.0.1:1/";
    sluice::ws::client_options opt;
    auto f = [] { return 1; };

    // Functions returning an awaitable.
    KEEP sluice::read_some(s, sluice::mutable_buffer(buf, 8));
    KEEP sluice::read_some(s, buf, 8);
    KEEP sluice::read_exact(s, sluice::mutable_buffer(buf, 8));
    KEEP sluice::read_exact(s, buf, 8);
    KEEP sluice::write(s, sluice::const_buffer(buf, 8));
    KEEP sluice::write(s, std::string_view("x"));
    KEEP sluice::connect(s, ep);
    KEEP sluice::connect(s, std::vector<sluice::endpoint>{ep});
    KEEP sluice::connect(s, "localhost", 1);
    KEEP sluice::resolve("localhost", 1);
    KEEP sluice::accept(lis);
    KEEP sluice::connect(ts, "localhost", 1, ctx);
    KEEP sluice::connect(ts, ep, "localhost", ctx);
    KEEP sluice::accept(tl);
    KEEP sluice::tls_handshake(sluice::tcp_stream(), ctx);
    KEEP sluice::sleep_for(t, 1ms);
    KEEP sluice::sleep_for(l, 1ms);
    KEEP sluice::sleep_for(1ms);
    KEEP sluice::sleep_until(t, tp);
    KEEP sluice::sleep_until(l, tp);
    KEEP sluice::offload(l, f);
    KEEP sluice::offload(f);
    KEEP sluice::hop(l);
    KEEP sluice::current_loop();
    KEEP sluice::recv_from(u, sluice::mutable_buffer(buf, 8));
    KEEP sluice::send_to(u, ep, sluice::const_buffer(buf, 8));
    KEEP sluice::send_to(u, ep, std::string_view("x"));
    KEEP sluice::with_timeout(sluice::sleep_for(1ms), 1s);
    KEEP sluice::with_cancellation(sluice::sleep_for(1ms), tok);
    KEEP sluice::when_all(user_task(), user_task());
    KEEP sluice::when_any(user_task(), user_task());
    KEEP sluice::ws::read(c);
    KEEP sluice::ws::async_connect(l, url);
    KEEP sluice::ws::async_connect(l, url, opt);
    KEEP user_task();

    // The awaitable types themselves, returned by a function without the attribute.
    KEEP value_of([&] { return sluice::read_some(s, buf, 8); });
    KEEP value_of([&] { return sluice::read_exact(s, buf, 8); });
    KEEP value_of([&] { return sluice::write(s, std::string_view("x")); });
    KEEP value_of([&] { return sluice::connect(s, ep); });
    KEEP value_of([&] { return sluice::accept(tl); });
    KEEP value_of([&] { return sluice::accept(lis); });
    KEEP value_of([&] { return sluice::sleep_for(1ms); });
    KEEP value_of([&] { return sluice::offload(f); });
    KEEP value_of([&] { return sluice::hop(l); });
    KEEP value_of([&] { return sluice::current_loop(); });
    KEEP value_of([&] { return sluice::recv_from(u, sluice::mutable_buffer(buf, 8)); });
    KEEP value_of([&] { return sluice::send_to(u, ep, std::string_view("x")); });
    KEEP value_of([&] { return sluice::with_timeout(sluice::sleep_for(1ms), 1s); });
    KEEP value_of([&] { return sluice::when_all(user_task()); });
    KEEP value_of([&] { return sluice::when_any(user_task()); });
    KEEP value_of([&] { return sluice::ws::read(c); });
    KEEP value_of([&] { return sluice::ws::detail::connect_op(l, url, opt); });
    KEEP value_of([&] { return user_task(); });
}

} // namespace

int main() { return 0; }
