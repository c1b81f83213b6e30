// SPDX-License-Identifier: MIT
// ringbahn:events.fsync — IORING_OP_FSYNC: flush a file's data (and metadata) to storage.
module;
#include <liburing.h>
#include <cstdint>
#include <span>
export module ringbahn:events.fsync;
import :protocol.cancellation;
import :detail.sqe;
import :protocol.event;

namespace ringbahn::events {

export struct Fsync {
    int fd;
    bool data_only = false; // IORING_FSYNC_DATASYNC: fdatasync(2)

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        detail::prep_rw(sqes[0], IORING_OP_FSYNC, fd, nullptr, 0, 0);
        sqes[0].fsync_flags = data_only ? IORING_FSYNC_DATASYNC : 0;
    }
    [[nodiscard]] inline Cancellation cancel() && noexcept { return {}; }
};
static_assert(Event<Fsync>);

} // namespace ringbahn::events
