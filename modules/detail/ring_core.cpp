// SPDX-License-Identifier: MIT
// RingCore's implementation: the only place that calls liburing's static inline helpers.
module;
#include <liburing.h>
#include <cerrno>
#include <expected>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <span>
#include <sys/uio.h>
module ringbahn;

namespace ringbahn::detail {

namespace {
constexpr std::uint64_t driver_user_data = 0; // the driver's own SQEs (wake-ups, cancel-any)
constexpr std::uint32_t max_linked_sqes = 16;
} // namespace

RingCore::~RingCore() {
    if (open_) ::io_uring_queue_exit(&ring_);
}

Result<void> RingCore::open(const RingOptions& options) {
    // Preference order: a flag later in this list is dropped before one earlier in it.
    constexpr std::uint32_t droppable[] = {
        IORING_SETUP_SINGLE_ISSUER, IORING_SETUP_DEFER_TASKRUN, IORING_SETUP_COOP_TASKRUN,
        IORING_SETUP_TASKRUN_FLAG,  IORING_SETUP_SUBMIT_ALL,
    };
    std::uint32_t flags = options.setup_flags;
    for (;;) {
        ::io_uring_params params{};
        params.flags = flags | IORING_SETUP_CQSIZE;
        params.cq_entries = options.entries * 2;
        const int rc = ::io_uring_queue_init_params(options.entries, &ring_, &params);
        if (rc == 0) break;
        if (rc != -EINVAL) return std::unexpected(errno_code(-rc));
        // Drop the last preferred flag still set; DEFER_TASKRUN needs SINGLE_ISSUER.
        std::uint32_t dropped = 0;
        for (auto f : droppable)
            if (flags & f) dropped = f;
        if (dropped == 0) return std::unexpected(errno_code(EINVAL));
        flags &= ~dropped;
        if (dropped == IORING_SETUP_SINGLE_ISSUER) flags &= ~IORING_SETUP_DEFER_TASKRUN;
    }
    open_ = true;
    setup_flags_ = ring_.flags;
    max_in_flight_ = options.max_in_flight ? options.max_in_flight : ring_.sq.ring_entries;
    parked_cancels_.reserve(ring_.cq.ring_entries);
    return {};
}

::io_uring_sqe* RingCore::get_sqe() noexcept {
    if (auto* sqe = ::io_uring_get_sqe(&ring_)) return sqe;
    submit(); // the kernel copies SQEs at submit: their slots are free again after it
    return ::io_uring_get_sqe(&ring_);
}

Result<void> RingCore::register_buffers(std::span<const ::iovec> iov,
                                        std::shared_ptr<void> owner) {
    if (registered_owner_) return std::unexpected(errno_code(EBUSY)); // one table per ring
    const int rc = ::io_uring_register_buffers(&ring_, iov.data(), static_cast<unsigned>(iov.size()));
    if (rc < 0) return std::unexpected(errno_code(-rc));
    registered_owner_ = std::move(owner);
    return {};
}

bool RingCore::can_grant(std::uint32_t n) noexcept {
    if (n == 0 || n > max_linked_sqes || in_flight_ + n > max_in_flight_) return false;
    if (::io_uring_sq_space_left(&ring_) >= n) return true;
    submit(); // frees SQ slots unless the kernel pushes back (-EBUSY)
    return ::io_uring_sq_space_left(&ring_) >= n;
}

void RingCore::grant(SlotRequest& r) noexcept {
    const std::uint32_t n = r.sqes_needed();
    in_flight_ += n;
    if (n == 1) {
        r.grant({::io_uring_get_sqe(&ring_), 1});
        return;
    }
    // The SQ may wrap between two of the n entries: prepare them contiguously, then copy.
    ::io_uring_sqe staged[max_linked_sqes];
    r.grant({staged, n});
    for (std::uint32_t i = 0; i < n; ++i) *::io_uring_get_sqe(&ring_) = staged[i];
}

bool RingCore::acquire(SlotRequest& r) noexcept {
    // A request no ring state could ever grant would wait forever: an Event breaking its
    // contract (sqes_needed() in 1..16), or a ring too small for it. A bug, not an outcome.
    if (r.sqes_needed() == 0 || r.sqes_needed() > max_linked_sqes ||
        r.sqes_needed() > max_in_flight_)
        std::terminate();
    // FIFO: a newcomer does not overtake requests already parked.
    if (waiters_.empty() && can_grant(r.sqes_needed())) {
        grant(r);
        return true;
    }
    waiters_.push_back(r);
    return false;
}

void RingCore::cancel(Completion& c) noexcept {
    ++in_flight_;
    if (auto* sqe = get_sqe()) {
        prep_cancel_user_data(*sqe, c.op_user_data(), 0);
        sqe->user_data = c.cancel_user_data();
        submit();
        return;
    }
    parked_cancels_.push_back(&c); // capacity reserved at open(): cannot allocate
}

int RingCore::submit() noexcept {
    for (;;) {
        const int rc = ::io_uring_submit(&ring_);
        if (rc >= 0) return 0;
        if (rc != -EINTR) return rc;
    }
}

std::uint32_t RingCore::reap(std::span<Cqe> out) noexcept {
    // io_uring_for_each_cqe's barrier templates do not resolve in a module unit; the
    // out-of-line peek does the same acquire load.
    constexpr std::size_t batch = 64;
    ::io_uring_cqe* cqes[batch];
    const auto want = static_cast<unsigned>(out.size() < batch ? out.size() : batch);
    const unsigned n = ::io_uring_peek_batch_cqe(&ring_, cqes, want);
    for (unsigned i = 0; i < n; ++i) out[i] = {cqes[i]->user_data, cqes[i]->res, cqes[i]->flags};
    ::io_uring_cq_advance(&ring_, n);
    return n;
}

std::uint32_t RingCore::dispatch(const Cqe& cqe) noexcept {
    if (cqe.user_data == driver_user_data) return 0;
    Completion::dispatch(cqe.user_data, cqe.res, cqe.flags, tearing_down_);
    return (cqe.flags & IORING_CQE_F_MORE) ? 0 : 1;
}

void RingCore::settle(std::uint32_t finished) noexcept {
    in_flight_ -= finished;
    while (!parked_cancels_.empty()) {
        auto* sqe = ::io_uring_get_sqe(&ring_);
        if (!sqe) break;
        Completion* c = parked_cancels_.back();
        parked_cancels_.pop_back();
        prep_cancel_user_data(*sqe, c->op_user_data(), 0);
        sqe->user_data = c->cancel_user_data();
    }
    while (!waiters_.empty()) {
        SlotRequest& r = *waiters_.front();
        if (!can_grant(r.sqes_needed())) break;
        waiters_.remove(r);
        grant(r);
    }
}

void RingCore::send_cancel_any() noexcept {
    if (auto* sqe = get_sqe()) {
        prep_cancel_user_data(*sqe, 0, IORING_ASYNC_CANCEL_ANY);
        sqe->user_data = driver_user_data;
    }
    submit();
}

void RingCore::drain() noexcept {
    if (!open_) return; // the factory failed before the ring existed
    tearing_down_ = true;
    while (!waiters_.empty()) {
        SlotRequest& r = *waiters_.front();
        waiters_.remove(r);
        r.grant({}); // the driver is gone for it
    }
    settle(0); // parked cancels into the SQ; send_cancel_any submits them
    send_cancel_any();
    Cqe batch[64];
    while (in_flight_ > 0) {
        ::io_uring_cqe* cqe = nullptr;
        __kernel_timespec tick{.tv_sec = 0, .tv_nsec = 100'000'000};
        const int rc = ::io_uring_wait_cqe_timeout(&ring_, &cqe, &tick);
        if (rc == -ETIME) {
            // An op that was not cancellable when the first cancel-any ran (a buffered file
            // read already copying): ask again rather than trust one attempt.
            send_cancel_any();
            continue;
        }
        if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) break; // ring unusable
        std::uint32_t finished = 0;
        const std::uint32_t n = reap(batch);
        for (std::uint32_t i = 0; i < n; ++i) finished += dispatch(batch[i]);
        settle(finished);
        submit();
    }
}

} // namespace ringbahn::detail
