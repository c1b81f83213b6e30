// SPDX-License-Identifier: MIT
// ringbahn:events.async_cancel — IORING_OP_ASYNC_CANCEL by file descriptor.
module;
#include <liburing.h>
#include <cstdint>
#include <span>
export module ringbahn:events.async_cancel;
import :protocol.cancellation;
import :detail.sqe;
import :protocol.event;

namespace ringbahn::events {

// Cancels every op in flight on `fd` (IORING_ASYNC_CANCEL_FD | _ALL, kernel ≥ 5.19); the value
// is how many were cancelled, ENOENT if none. Each cancelled op still completes through its own
// awaiter, with ECANCELED. (Dropping an awaiter cancels its own op; this is for the others.)
export struct AsyncCancel {
    int fd;

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        detail::prep_rw(sqes[0], IORING_OP_ASYNC_CANCEL, fd, nullptr, 0, 0);
        sqes[0].cancel_flags = IORING_ASYNC_CANCEL_FD | IORING_ASYNC_CANCEL_ALL;
    }
    [[nodiscard]] inline Cancellation cancel() && noexcept { return {}; }
};
static_assert(Event<AsyncCancel>);

} // namespace ringbahn::events
