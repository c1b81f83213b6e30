// SPDX-License-Identifier: MIT
// ringbahn:events.msg_ring — IORING_OP_MSG_RING: post a CQE to another ring.
module;
#include <liburing.h>
#include <cstdint>
#include <span>
export module ringbahn:events.msg_ring;
import :cancellation;
import :detail.sqe;
import :event;

namespace ringbahn::events {

// Posts a CQE with res = `value` and user_data = `user_data` to the ring whose fd is
// `ring_fd` (a driver's ring_fd()): a cross-thread wake-up without a syscall of the target's.
// user_data 0 is the target driver's own (it only wakes); anything else must name a state the
// target expects. The value here is 0, or EBADFD when ring_fd is not a ring.
export struct MsgRing {
    int ring_fd;
    std::uint32_t value = 0;
    std::uint64_t user_data = 0;

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        detail::prep_rw(sqes[0], IORING_OP_MSG_RING, ring_fd, nullptr, value, user_data);
        sqes[0].addr = IORING_MSG_DATA;
    }
    [[nodiscard]] inline Cancellation cancel() && noexcept { return {}; }
};
static_assert(Event<MsgRing>);

} // namespace ringbahn::events
