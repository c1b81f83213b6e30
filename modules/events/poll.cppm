// SPDX-License-Identifier: MIT
// ringbahn:events.poll — IORING_OP_POLL_ADD (one-shot) and IORING_OP_POLL_REMOVE.
module;
#include <liburing.h>
#include <cstdint>
#include <expected>
#include <span>
export module ringbahn:events.poll;
import :protocol.cancellation;
import :detail.sqe;
import :protocol.error;
import :protocol.event;
import :protocol.op_handle;

namespace ringbahn::events {

// Waits until fd is ready for `mask` (POLLIN, POLLOUT, ...); the value is the revents mask.
// `handle` names it for PollRemove while it waits. (Multishot poll: streams::poll.)
export struct PollAdd {
    int fd;
    unsigned mask;
    OpHandle handle{};

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        detail::prep_rw(sqes[0], IORING_OP_POLL_ADD, fd, nullptr, 0, 0);
        sqes[0].poll32_events = mask; // little-endian layout, as liburing fills it
    }
    inline void granted(std::uint64_t user_data) noexcept { handle.set(user_data); }
    [[nodiscard]] inline Result<std::uint32_t> finish(std::int32_t res, std::uint32_t) noexcept {
        handle.clear();
        return cqe_result(res);
    }
    [[nodiscard]] inline Cancellation cancel() && noexcept {
        return Cancellation{[h = handle](std::int32_t, std::uint32_t) noexcept { h.clear(); }};
    }
};
static_assert(Event<PollAdd>);

// Removes the poll `target` names: its awaiter gets ECANCELED; the value here is 0, or ENOENT
// when it is not waiting (finished, or never submitted).
export struct PollRemove {
    OpHandle target;

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        detail::prep_rw(sqes[0], IORING_OP_POLL_REMOVE, -1, nullptr, 0, 0);
        sqes[0].addr = target.target();
    }
    [[nodiscard]] inline Cancellation cancel() && noexcept { return {}; }
};
static_assert(Event<PollRemove>);

} // namespace ringbahn::events
