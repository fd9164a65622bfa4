// sluice — out-of-line bodies of stream_impl's writes through a completion backend
// (io_uring): the write is queued and handed to the kernel with the loop's next enter; its
// handler runs from the loop after the completion, never inside write(). The write
// limits still behave as a send() per write does on epoll: a burst that would pass the
// hard cap or the high watermark is submitted early, and the kernel takes what it can
// before the limit is judged. Compiled in every translation unit when header-only, only
// in the SLUICE_IMPLEMENTATION one under SLUICE_SEPARATE_COMPILATION.
#pragma once

#include <sluice/handles/stream_impl.hpp>

namespace sluice::detail {

SLUICE_DECL std::uint64_t stream_impl::ring_write(const const_buffer* bufs, std::size_t count,
                                                  io_handler&& done, shared_bytes* shared,
                                                  std::size_t total) {
    stream_ext& x = ext();
    // Judged as epoll judges it: after the kernel took what it could of what is queued.
    if (x.buffered > x.limits.hard_cap - total) push_out();
    if (closed()) return refuse(std::move(done), make_error_code(error::not_open));
    if (x.buffered > x.limits.hard_cap - total)
        return refuse(std::move(done), make_error_code(error::write_queue_full));

    // One copy into the loop's send pool (no allocation in steady state), or a reference
    // to shared bytes; a write larger than a pool block is copied into an allocation of
    // its own, as epoll's queue copies what the socket did not take.
    write_entry e{};
    if (shared && count == 1) {
        e.bytes = *shared;
        e.base = e.bytes.data();
    } else if (total <= send_pool::block_bytes) {
        unsigned char* to = loop_->send_pool().take(total, e.block);
        e.base = to;
        for (std::size_t i = 0; i < count; ++i) {
            if (bufs[i].size) std::memcpy(to, bufs[i].data, bufs[i].size);
            to += bufs[i].size;
        }
    } else if (count == 1) {
        e.bytes = shared_bytes(bufs[0].data, total);
        e.base = e.bytes.data();
    } else {
        std::string joined;
        joined.reserve(total);
        for (std::size_t i = 0; i < count; ++i)
            joined.append(static_cast<const char*>(bufs[i].data), bufs[i].size);
        e.bytes = shared_bytes(joined.data(), joined.size());
        e.base = e.bytes.data();
    }
    e.length = total;
    e.done = std::move(done);
    e.request_size = total;
    const std::uint64_t id = e.id = ++x.last_write_id;
    const bool was_empty = x.queue.empty();
    x.queue.push_back(std::move(e));
    x.buffered += total;
    if (was_empty) {
        x.write_progress = loop_->now_us();
        if (x.write_us) arm_timeouts();
    }
    if (x.buffered >= x.limits.high_watermark) {
        push_out();
        if (closed()) return 0; // the send failed: this write's handler has the error
    }
    loop_->send_due(this);
    return id;
}

SLUICE_DECL bool stream_impl::start_send() {
    if (closed() || !ext_ || (state_ & sending_bit) || !ring_sends()) return true;
    write_queue& q = ext_->queue;
    // Up to max_send_pieces regions, slices side by side in one block joined into one:
    // consecutive small writes usually are, so one SEND carries them all.
    constexpr std::size_t most = std::size_t(1) << 30; // the completion's count is an int
    send_piece pieces[poller::max_send_pieces];
    std::size_t n = 0, total = 0, covered = 0;
    for (auto it = q.begin(); it != q.end() && total < most; ++it, ++covered) {
        write_entry& e = *it;
        std::size_t size = e.left();
        if (size > most - total) size = most - total;
        if (size == 0) continue;
        send_piece* prev = n ? &pieces[n - 1] : nullptr;
        if (prev && prev->block && e.block && prev->block->get() == e.block.get() &&
            prev->data + prev->size == e.data()) {
            prev->size += size;
        } else {
            if (n == poller::max_send_pieces) break;
            pieces[n++] = {e.data(), size, e.block ? &e.block : nullptr, e.block ? nullptr : &e.bytes};
        }
        total += size;
    }
    if (n == 0) { // only empty writes: they are done
        take_sent(0);
        after_progress();
        return true;
    }
    if (!loop_->send(this, pieces, n)) return false;
    ext_->sending = total;
    ext_->send_stuck = false;
    // From here their bytes may reach the peer: cancelling one of them fails the stream.
    std::size_t k = 0;
    for (auto it = q.begin(); it != q.end() && k < covered; ++it, ++k) it->started = true;
    return true;
}

SLUICE_DECL void stream_impl::on_sent(int res) {
    ext_->send_stuck = false;
    if (res < 0 && !platform::would_block_errno(-res) && res != -EINTR)
        return fail({-res, platform::system_errors()});
    take_sent(res > 0 ? static_cast<std::size_t>(res) : 0);
    after_progress(); // sends the rest (update_interest), or ends a pending shutdown or close
}

SLUICE_DECL void stream_impl::take_sent(std::size_t sent) {
    stream_ext& x = *ext_;
    x.buffered -= sent;
    if (sent) x.last_activity = x.write_progress = loop_->now_us();
    write_queue& q = x.queue;
    while (!q.empty() && q.front().left() <= sent) {
        sent -= q.front().left();
        loop_->complete(std::move(q.front().done), {}, q.front().request_size);
        q.pop_front();
    }
    if (!q.empty()) q.front().offset += sent;
    // A short send: what it did not take never reached the kernel, and may still be
    // withdrawn.
    for (write_entry& e : q) e.started = e.offset > 0;
}

SLUICE_DECL void stream_impl::settle_send() {
    if (!ring_sends() || !(state_ & sending_bit)) return;
    int res = 0;
    if (!loop_->send_now(this, res, true)) return; // still going: its writes count as started
    if (res < 0 && res != -ECANCELED && !platform::would_block_errno(-res) && res != -EINTR)
        return fail({-res, platform::system_errors()});
    take_sent(res > 0 ? static_cast<std::size_t>(res) : 0);
    if (res > 0)
        loop_->defer([s = ref<stream_impl>(this)] {
            if (!s->closed() && s->ext_) s->after_progress();
        });
    if (!ext_->queue.empty()) loop_->send_due(this); // the rest goes with the next wait
}

SLUICE_DECL void stream_impl::push_out() {
    bool progressed = false;
    while (!closed() && !ext_->queue.empty()) {
        // A send submitted earlier may have completed without being reaped yet (outside
        // run() every write is submitted at once): its completion is taken here. One that
        // had not completed when last asked waits for the loop, as epoll waits for room.
        if (!(state_ & sending_bit)) {
            if (!start_send() || !(state_ & sending_bit)) break;
        } else if (ext_->send_stuck) {
            break;
        }
        int res = 0;
        if (!loop_->send_now(this, res)) { // in flight: the socket is full
            ext_->send_stuck = true;
            break;
        }
        if (res < 0 && !platform::would_block_errno(-res) && res != -EINTR) {
            fail({-res, platform::system_errors()});
            return;
        }
        const std::size_t took = res > 0 ? static_cast<std::size_t>(res) : 0;
        take_sent(took);
        if (took) progressed = true;
        if (took < ext_->sending) break; // the socket is full: judged as it is now
    }
    // What the progress ends (a drain wait, say) runs from the loop, never inside write().
    if (progressed && !closed())
        loop_->defer([s = ref<stream_impl>(this)] {
            if (!s->closed() && s->ext_) s->after_progress();
        });
}

} // namespace sluice::detail
