// SPDX-License-Identifier: MIT
// wake_ring: a MSG_RING from this thread's own small ring.
module;
#include <liburing.h>
module ringbahn;

namespace ringbahn::detail {

namespace {
// This thread's messenger ring: made on first use, closed when the thread exits.
struct Messenger {
    ::io_uring ring{};
    bool ok = ::io_uring_queue_init(4, &ring, 0) == 0;
    Messenger() = default;
    Messenger(const Messenger&) = delete;
    ~Messenger() {
        if (ok) ::io_uring_queue_exit(&ring);
    }
};
} // namespace

bool wake_ring(int ring_fd) noexcept {
    thread_local Messenger m;
    if (!m.ok) return false;
    ::io_uring_sqe* sqe = ::io_uring_get_sqe(&m.ring);
    if (sqe == nullptr) return false;
    ::io_uring_prep_msg_ring(sqe, ring_fd, 0, 0, 0); // target CQE: res 0, user_data 0
    sqe->user_data = 1;
    if (::io_uring_submit_and_wait(&m.ring, 1) < 0) return false;
    ::io_uring_cqe* cqe = nullptr;
    if (::io_uring_peek_cqe(&m.ring, &cqe) != 0 || cqe == nullptr) return false;
    const bool sent = cqe->res >= 0;
    ::io_uring_cqe_seen(&m.ring, cqe);
    return sent;
}

} // namespace ringbahn::detail
