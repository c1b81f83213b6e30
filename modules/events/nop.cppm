// SPDX-License-Identifier: MIT
// ringbahn:events.nop — IORING_OP_NOP: a round trip through the ring and nothing else.
module;
#include <liburing.h>
#include <cstdint>
#include <span>
export module ringbahn:events.nop;
import :protocol.cancellation;
import :detail.sqe;
import :protocol.event;

namespace ringbahn::events {

export struct Nop {
    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        detail::prep_rw(sqes[0], IORING_OP_NOP, -1, nullptr, 0, 0);
    }
    [[nodiscard]] inline Cancellation cancel() && noexcept { return {}; }
};
static_assert(Event<Nop>);

} // namespace ringbahn::events
