// SPDX-License-Identifier: MIT
// Waker: a MSG_RING from a driver's own small ring, for any thread.
module;
#include <liburing.h>
#include <mutex>
module ringbahn;

namespace ringbahn::detail {

int Waker::open() noexcept {
    // Plain flags: no SINGLE_ISSUER — whichever thread wakes the driver submits here, under
    // the mutex.
    const int rc = ::io_uring_queue_init(4, &ring_, 0);
    open_ = rc == 0;
    return rc;
}

Waker::~Waker() {
    if (open_) ::io_uring_queue_exit(&ring_);
}

bool Waker::wake(int ring_fd) noexcept {
    std::lock_guard lock(mutex_);
    if (!open_) return false;
    // A wake-up that went out posts no CQE here (CQE_SKIP_SUCCESS), so nothing is waited for:
    // one io_uring_enter. A refused one leaves its CQE: taken now, so the CQ never fills.
    ::io_uring_cq_advance(&ring_, ::io_uring_cq_ready(&ring_));
    ::io_uring_sqe* sqe = ::io_uring_get_sqe(&ring_);
    if (sqe == nullptr) return false;
    ::io_uring_prep_msg_ring(sqe, ring_fd, 0, 0, 0); // target CQE: res 0, user_data 0
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    sqe->user_data = 1;
    return ::io_uring_submit(&ring_) == 1;
}

} // namespace ringbahn::detail
