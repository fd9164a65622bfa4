// sluice — what every public handle type shares: it owns one counted reference
// (detail::ref) to its implementation object; moving moves the reference; destroying it
// closes the handle (pending operations complete with operation_aborted, from the loop)
// and drops the reference. Handles are used from their loop's thread only.
#pragma once

#include <sluice/loop/loop.hpp>

namespace sluice::detail {

template <class Impl>
class basic_handle {
  public:
    basic_handle() noexcept = default;
    explicit basic_handle(Impl* impl) noexcept : impl_(impl) {}
    basic_handle(basic_handle&& o) noexcept : impl_(std::move(o.impl_)) {}
    basic_handle& operator=(basic_handle&& o) noexcept {
        if (this != &o) {
            reset();
            impl_ = std::move(o.impl_);
        }
        return *this;
    }
    basic_handle(const basic_handle&) = delete;
    basic_handle& operator=(const basic_handle&) = delete;
    ~basic_handle() { reset(); }

    // Closes the socket now; pending operations complete with operation_aborted.
    void close() {
        if (impl_ && !impl_->closed() && impl_->loop_)
            impl_->close_with(make_error_code(error::operation_aborted));
    }
    bool is_open() const noexcept {
        return impl_ && !impl_->closed() && impl_->fd_ != invalid_socket;
    }
    native_socket native_handle() const noexcept { return impl_ ? impl_->fd_ : invalid_socket; }
    // The loop the handle belongs to, or nullptr for an empty handle or a dead loop.
    sluice::loop* get_loop() const noexcept { return impl_ ? impl_->loop_ : nullptr; }

    // Implementation access for the layers above (coroutines, protocols).
    Impl* impl() const noexcept { return impl_.get(); }
    // A counted reference to it, for work that must outlive this wrapper.
    const ref<Impl>& impl_ref() const noexcept { return impl_; }

  protected:
    // Why an operation cannot start: no handle, a dead loop, or a closed handle.
    std::error_code unusable() const noexcept {
        if (!impl_) return make_error_code(error::not_open);
        if (!impl_->loop_) return make_error_code(error::loop_gone);
        if (impl_->closed()) return make_error_code(error::not_open);
        if (impl_->loop_->status()) return impl_->loop_->status();
        return {0, platform::system_errors()}; // `{}` would call into the runtime
    }
    // Delivers a failure to start `h` (never inline); a dead loop drops it.
    void fail(io_handler&& h, std::error_code ec) {
        if (impl_ && impl_->loop_) impl_->loop_->complete(std::move(h), ec, 0);
    }
    void reset() noexcept {
        if (impl_) {
            close();
            impl_.reset();
        }
    }

    ref<Impl> impl_;
};

// Adapts a one-argument handler (connect, timer) to the loop's completion type.
template <class H>
io_handler ec_only(H&& h) {
    return [h = std::forward<H>(h)](std::error_code ec, std::size_t) mutable { h(ec); };
}

} // namespace sluice::detail
