// sluice — name resolution. getaddrinfo blocks, so it runs on the thread pool and
// the handler runs back on the loop thread. A lookup never holds its loop: the loop
// may be destroyed while getaddrinfo still runs (the result is then discarded on the
// worker thread), and a connect that no longer wants the answer ends at once.
#pragma once

#include <sluice/handles/handle.hpp>
#include <sluice/platform/endpoint.hpp>

#include <string>
#include <vector>

namespace sluice {

namespace detail {
class resolver_category_impl final : public std::error_category {
  public:
    const char* name() const noexcept override { return "sluice.resolver"; }
#if defined(SLUICE_WINDOWS)
    // getaddrinfo returns WSA codes there; MinGW's gai_strerror writes a static buffer.
    std::string message(int ev) const override { return platform::win32_message(ev); }
    std::error_condition default_error_condition(int ev) const noexcept override {
        return platform::win32_category().default_error_condition(ev);
    }
#else
    std::string message(int ev) const override { return ::gai_strerror(ev); }
#endif
};
} // namespace detail

SLUICE_DECL const std::error_category& resolver_category() noexcept;

using resolve_handler = unique_function<void(std::error_code, std::vector<endpoint>)>;

// Blocking; prefer resolve() on a loop.
SLUICE_DECL std::vector<endpoint> resolve_now(const std::string& host, std::uint16_t port,
                                              int socktype, std::error_code& ec);

namespace detail {

// A name lookup in progress, as the loop sees it: an object without a descriptor in the
// loop's live list, so that closing it (or the loop going away) ends it at once. It owns
// the handler, which therefore lives and dies on the loop thread; the worker thread only
// touches the shared `state`, whose pointer back to this object is read and cleared on
// the loop thread alone.
class lookup_op final : public io_object {
  public:
    using done_fn = unique_function<void(std::error_code, std::vector<endpoint>)>;

    struct state {
        std::string host;
        std::uint16_t port = 0;
        int socktype = SOCK_STREAM;
        std::error_code ec;              // written by the worker before it posts
        std::vector<endpoint> addresses; // likewise
        lookup_op* op = nullptr;         // loop thread only; null once nobody waits
    };

    static ref<lookup_op> start(loop& l, std::string host, std::uint16_t port, int socktype,
                                done_fn done) {
        ref<lookup_op> op(new lookup_op(l, std::move(done)));
        l.adopt(op.get());
        l.work_started(); // run() waits for the answer, not for the worker thread
        auto st = std::make_shared<state>();
        st->host = std::move(host);
        st->port = port;
        st->socktype = socktype;
        st->op = op.get();
        op->state_ = st;
        l.offload_detached(
            [st] { st->addresses = resolve_now(st->host, st->port, st->socktype, st->ec); },
            [st] {
                if (lookup_op* o = st->op) o->deliver();
            });
        return op;
    }

    // Ends the lookup without calling its handler, even if its close already queued a
    // call: the owner is going away (the handler is released from the loop).
    void abandon() {
        if (done_)
            loop_->release_later(
                io_handler([d = std::move(done_)](std::error_code, std::size_t) {}));
        close_with(make_error_code(error::operation_aborted));
    }

    // Closed (by its owner or the loop): the handler gets `reason`, from the loop, unless
    // abandon() comes first.
    void close_with(std::error_code reason) override {
        if (closed()) return;
        detach();
        if (done_)
            loop_->defer([self = ref<lookup_op>(this), reason] {
                if (done_fn d = std::move(self->done_)) d(reason, {});
            });
        loop_->retire(this);
    }

  private:
    lookup_op(loop& l, done_fn done) : io_object(l), done_(std::move(done)) {}

    void detach() {
        if (state_) {
            state_->op = nullptr;
            state_.reset();
            loop_->work_finished();
        }
    }

    // The answer arrived (from a posted call, never inside start()).
    void deliver() {
        ref<lookup_op> keep(this);
        std::shared_ptr<state> st = state_;
        detach();
        done_fn d = std::move(done_);
        loop_->retire(this);
        if (d) d(st->ec, std::move(st->addresses));
    }

    done_fn done_;
    std::shared_ptr<state> state_;
};

} // namespace detail

// Resolves on the thread pool; handler(ec, addresses) runs on the loop thread.
SLUICE_DECL void resolve(loop& l, std::string host, std::uint16_t port, resolve_handler handler,
                         int socktype = SOCK_STREAM);

} // namespace sluice

#if SLUICE_COMPILE_BODIES
#include <sluice/handles/impl/resolve.ipp>
#endif
