// SPDX-License-Identifier: MIT
// ringbahn:events.msg_ring — IORING_OP_MSG_RING: post a CQE to another ring.
module;
#include <liburing.h>
#include <cstdint>
#include <span>
export module ringbahn:events.msg_ring;
import :protocol.cancellation;
import :detail.sqe;
import :protocol.event;

namespace ringbahn::events {

// A message another ring sent to a driver's ring with MsgRing: take it with the target
// driver's take_message(), on its owner's thread.
export struct RingMessage {
    std::uint64_t tag;  // the sender's tag (63 bits)
    std::int32_t value; // the sender's value
};

// Posts a message — a CQE the target recognises as one — to the ring whose fd is `ring_fd` (a
// driver's uring_fd()): a cross-thread wake-up without a syscall of the target's, carrying `tag`
// and `value`. The target never takes the tag for an address: the CQE's user_data has bit 63
// set (no user-space address does), and the driver queues it as a RingMessage. A tag is 63
// bits: bit 63 of `tag` is dropped. The value here is 0, or EBADFD when ring_fd is not a ring.
export struct MsgRing {
    static constexpr std::uint64_t message_bit = std::uint64_t{1} << 63;
    int ring_fd;
    std::int32_t value = 0;
    std::uint64_t tag = 0;

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        detail::prep_rw(sqes[0], IORING_OP_MSG_RING, ring_fd, nullptr,
                        static_cast<std::uint32_t>(value), message_bit | tag);
        sqes[0].addr = IORING_MSG_DATA;
    }
    [[nodiscard]] inline Cancellation cancel() && noexcept { return {}; }
};
static_assert(Event<MsgRing>);

} // namespace ringbahn::events
