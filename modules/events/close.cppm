// SPDX-License-Identifier: MIT
// ringbahn:events.close — IORING_OP_CLOSE: close a file descriptor through the ring.
module;
#include <liburing.h>
#include <cstdint>
#include <span>
export module ringbahn:events.close;
import :protocol.cancellation;
import :detail.sqe;
import :protocol.event;

namespace ringbahn::events {

// As with close(2), the descriptor is gone even when the op reports an error.
export struct Close {
    int fd;

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        detail::prep_rw(sqes[0], IORING_OP_CLOSE, fd, nullptr, 0, 0);
    }
    [[nodiscard]] inline Cancellation cancel() && noexcept { return {}; }
};
static_assert(Event<Close>);

} // namespace ringbahn::events
