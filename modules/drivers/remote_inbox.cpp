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
    const int rc = ::io_uring_queue_init(2, &ring_, 0);
    open_ = rc == 0;
    return rc;
}

Waker::~Waker() {
    if (open_) ::io_uring_queue_exit(&ring_);
}

bool Waker::wake(int ring_fd) noexcept {
    std::lock_guard lock(mutex_);
    if (!open_) return false;
    ::io_uring_sqe* sqe = ::io_uring_get_sqe(&ring_);
    if (sqe == nullptr) return false;
    ::io_uring_prep_msg_ring(sqe, ring_fd, 0, 0, 0); // target CQE: res 0, user_data 0
    sqe->user_data = 1;
    if (::io_uring_submit_and_wait(&ring_, 1) < 0) return false;
    ::io_uring_cqe* cqe = nullptr;
    if (::io_uring_peek_cqe(&ring_, &cqe) != 0 || cqe == nullptr) return false;
    const bool sent = cqe->res >= 0;
    ::io_uring_cqe_seen(&ring_, cqe);
    return sent;
}

} // namespace ringbahn::detail
