// A bounded randomized stress of the handle layer, meant to run under ASan: streams are
// connected (by address or by name), read, written, stopped, cancelled, timed out,
// half-closed, closed and destroyed in random order, on both ends, with timers beside
// them. Every handler counts its calls; at the end the rules of docs/guide/lifetimes.md
// are checked: every one-shot operation completed exactly once, a subscription was never
// called after it ended or was stopped, on_error at most once.
#include "common.hpp"

#include <memory>
#include <random>
#include <vector>

using namespace std::chrono_literals;

namespace {

class tracker {
  public:
    enum class kind : std::uint8_t { one_shot, subscription, once_at_most };

    std::size_t start(kind k) {
        ops_.push_back({k, 0, false, false, false});
        return ops_.size() - 1;
    }
    // A one-shot operation's handler ran.
    void completed(std::size_t id) { ++ops_[id].calls; }
    // A subscription's handler ran; `last` when it carried an error (its final call).
    void event(std::size_t id, bool last, std::error_code ec = {}) {
        op& o = ops_[id];
        ++o.calls;
        if (o.ended || (o.stopped && !o.cancelled)) {
            ++late_calls_;
            MESSAGE("late call of op " << id << ": ended=" << o.ended << " stopped=" << o.stopped
                                       << " calls=" << o.calls << " ec=" << ec.message());
        }
        if (last) o.ended = true;
    }
    void stopped(std::size_t id) { ops_[id].stopped = true; }
    // cancel_read() queued the subscription's final call (operation_aborted).
    void cancelled(std::size_t id) { ops_[id].cancelled = true; }

    // Checked once every operation had its chance to complete.
    void verify() const {
        std::size_t one_shot = 0, bad = 0;
        for (const op& o : ops_) {
            if (o.k == kind::one_shot) {
                ++one_shot;
                if (o.calls != 1) ++bad;
            } else if (o.k == kind::once_at_most && o.calls > 1) {
                ++bad;
            }
        }
        std::size_t subscriptions = 0, calls = 0;
        for (const op& o : ops_) {
            subscriptions += o.k == kind::subscription;
            calls += o.calls;
        }
        MESSAGE("operations: " << ops_.size() << " (one-shot " << one_shot << ", subscriptions "
                               << subscriptions << "), handler calls: " << calls);
        CHECK(bad == 0);
        CHECK(late_calls_ == 0);
        CHECK(one_shot > 100); // the run did something
    }

  private:
    struct op {
        kind k;
        std::uint32_t calls;
        bool ended, stopped, cancelled;
    };
    std::vector<op> ops_;
    std::size_t late_calls_ = 0;
};

constexpr std::size_t none = static_cast<std::size_t>(-1);

struct slot {
    std::unique_ptr<sluice::tcp_stream> s;
    std::uint32_t gen = 0;         // bumped when the stream is replaced
    std::size_t subscription = none; // the read_start in progress
    bool read_pending = false;     // a read_some or read_start is in progress
    char buf[512];
};

void run_stress(std::uint32_t seed, int steps) {
    test::bounded_loop loop;
    tracker t;
    std::mt19937 rng(seed);
    auto pick = [&](std::uint32_t n) { return static_cast<std::uint32_t>(rng() % n); };

    sluice::tcp_listener listener(loop);
    const std::uint16_t port = test::listen_loopback(listener);
    std::vector<slot> slots(48);
    std::vector<std::unique_ptr<sluice::timer>> timers(8);
    const std::string big(256 * 1024, 'z');

    // Accepted streams land in free slots (or are dropped, which closes them).
    auto replace = [&](slot& sl, sluice::tcp_stream* s) {
        sl.s.reset(s);
        ++sl.gen;
        sl.subscription = none;
        sl.read_pending = false;
    };
    listener.accept_each([&](std::error_code ec, sluice::tcp_stream s) {
        if (ec) return;
        slot& sl = slots[pick(static_cast<std::uint32_t>(slots.size()))];
        if (!sl.s) replace(sl, new sluice::tcp_stream(std::move(s)));
    });
    // The read of slot i, generation g, has ended.
    auto read_ended = [&slots](std::size_t i, std::uint32_t g) {
        if (slots[i].gen == g) {
            slots[i].read_pending = false;
            slots[i].subscription = none;
        }
    };

    auto one_shot = [&]() {
        std::size_t id = t.start(tracker::kind::one_shot);
        return [&t, id](std::error_code, std::size_t) { t.completed(id); };
    };

    for (int step = 0; step < steps; ++step) {
        const std::size_t idx = pick(static_cast<std::uint32_t>(slots.size()));
        slot& sl = slots[idx];
        const std::uint32_t gen = sl.gen;
        switch (pick(16)) {
        case 0: // open and connect, by address or by name
            if (!sl.s) {
                replace(sl, new sluice::tcp_stream(loop));
                std::size_t id = t.start(tracker::kind::one_shot);
                auto h = [&t, id](std::error_code) { t.completed(id); };
                sluice::connect_options opt;
                opt.timeout = std::chrono::milliseconds(1 + pick(200));
                if (pick(3) == 0)
                    sl.s->connect("127.0.0.1", port, h, opt);
                else
                    sl.s->connect(sluice::endpoint::loopback_v4(port), h, opt);
            }
            break;
        case 1: // a second connect on whatever is there: must complete once too
            if (sl.s) {
                std::size_t id = t.start(tracker::kind::one_shot);
                sl.s->connect(sluice::endpoint::loopback_v4(port),
                              [&t, id](std::error_code) { t.completed(id); });
            }
            break;
        case 2:
            if (sl.s && !sl.read_pending) {
                std::size_t id = t.start(tracker::kind::one_shot);
                sl.read_pending = true;
                sl.s->read_some(sluice::mutable_buffer(sl.buf, sizeof sl.buf),
                                [&t, id, &read_ended, idx, gen](std::error_code, std::size_t) {
                                    t.completed(id);
                                    read_ended(idx, gen);
                                });
            }
            break;
        case 3:
            if (sl.s && !sl.read_pending) {
                std::size_t id = t.start(tracker::kind::subscription);
                sl.subscription = id;
                sl.read_pending = true;
                sl.s->read_start([&t, id, &read_ended, idx, gen](std::error_code ec, std::string_view) {
                    t.event(id, static_cast<bool>(ec), ec);
                    if (ec) read_ended(idx, gen);
                });
            }
            break;
        case 4:
            if (sl.s) {
                // On a closed stream read_stop() does nothing: the final call may be queued.
                if (sl.subscription != none && !sl.s->impl()->closed()) t.stopped(sl.subscription);
                sl.s->read_stop();
                if (!sl.s->impl()->closed()) {
                    sl.subscription = none;
                    sl.read_pending = false; // a read_some's abort is queued: done with it
                }
            }
            break;
        case 5:
        case 6:
            if (sl.s) sl.s->write(pick(4) == 0 ? std::string_view(big) : "ping", one_shot());
            break;
        case 7:
            if (sl.s && sl.s->cancel_read()) {
                // The final call is queued: a read_stop() after this cannot recall it.
                if (sl.subscription != none) t.cancelled(sl.subscription);
                sl.subscription = none;
                sl.read_pending = false;
            }
            break;
        case 8:
            if (sl.s) sl.s->cancel_write();
            break;
        case 9:
            if (sl.s) sl.s->cancel_connect();
            break;
        case 10:
            if (sl.s)
                sl.s->set_timeouts(std::chrono::milliseconds(pick(3) ? 0 : 5 + pick(50)),
                                   std::chrono::milliseconds(pick(2) ? 0 : 5 + pick(50)),
                                   std::chrono::milliseconds(pick(2) ? 0 : 5 + pick(50)));
            break;
        case 11:
            if (sl.s) sl.s->shutdown_write();
            break;
        case 12:
            if (sl.s) {
                std::size_t id = t.start(tracker::kind::once_at_most);
                sl.s->on_error([&t, id](std::error_code) { t.completed(id); });
            }
            break;
        case 13: // close, close after flush, or destroy
            if (sl.s) {
                std::uint32_t how = pick(3);
                if (how == 0)
                    sl.s->close();
                else if (how == 1)
                    sl.s->close_after_flush();
                else
                    replace(sl, nullptr);
            }
            break;
        case 14: { // timers beside the streams
            auto& tm = timers[pick(static_cast<std::uint32_t>(timers.size()))];
            if (!tm || pick(4) == 0) tm.reset(new sluice::timer(loop));
            if (pick(3) == 0) {
                tm->cancel();
            } else {
                std::size_t id = t.start(tracker::kind::one_shot);
                tm->start(std::chrono::milliseconds(pick(20)),
                          [&t, id](std::error_code) { t.completed(id); });
            }
            break;
        }
        default: // let the loop work
            loop.run_for(std::chrono::milliseconds(pick(3)));
            break;
        }
        if (step % 64 == 0) loop.poll();
    }
    // Everything still pending completes with operation_aborted (shutdown runs them).
    listener.close();
    loop.shutdown(200ms);
    loop.run_for(20ms);
    t.verify();
}

} // namespace

TEST_CASE("stress: random opens, reads, writes, stops, cancels, timeouts and closes keep "
          "exactly-once") {
    for (std::uint32_t seed : {1u, 2u, 3u})
        run_stress(seed, 20000);
}
