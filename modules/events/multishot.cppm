// SPDX-License-Identifier: MIT
// ringbahn:events.multishot — multishot accept and poll: one SQE, a CQE per connection or
// readiness event. Used through a MultishotStream.
module;
#include <liburing.h>
#include <sys/socket.h>
#include <cstdint>
#include <span>
export module ringbahn:events.multishot;
import :buffers.provided_buffers;
import :protocol.cancellation;
import :protocol.completion;
import :detail.sqe;
import :protocol.error;
import :protocol.event;
import :protocol.fd_reclaim;
import :io.owned_fd;

namespace ringbahn::events {

// Multishot accept (5.19): item = a connected socket (SOCK_CLOEXEC). Connections the kernel
// accepts after the stream is gone are closed.
export struct AcceptMultishot {
    using Item = io::OwnedFd;
    int fd;

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        detail::prep_rw(sqes[0], IORING_OP_ACCEPT, fd, nullptr, 0, 0);
        sqes[0].ioprio = IORING_ACCEPT_MULTISHOT;
        sqes[0].accept_flags = SOCK_CLOEXEC;
    }
    [[nodiscard]] inline Result<Item> item(Cqe cqe) noexcept { return io::OwnedFd(cqe.res); }
    [[nodiscard]] inline bool ends(Cqe) const noexcept { return false; }
    [[nodiscard]] inline ProvidedBuffers* refills() const noexcept { return nullptr; }
    [[nodiscard]] inline Cancellation cancel() && noexcept { return close_fd_from_cqe(); }
};
static_assert(Event<AcceptMultishot>);

// Multishot poll (5.13): item = the revents mask, each time fd becomes ready for `mask`.
export struct PollMultishot {
    using Item = std::uint32_t;
    int fd;
    unsigned mask;

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        detail::prep_rw(sqes[0], IORING_OP_POLL_ADD, fd, nullptr, IORING_POLL_ADD_MULTI, 0);
        sqes[0].poll32_events = mask;
    }
    [[nodiscard]] inline Result<Item> item(Cqe cqe) noexcept { return std::uint32_t(cqe.res); }
    [[nodiscard]] inline bool ends(Cqe) const noexcept { return false; }
    [[nodiscard]] inline ProvidedBuffers* refills() const noexcept { return nullptr; }
    [[nodiscard]] inline Cancellation cancel() && noexcept { return {}; }
};
static_assert(Event<PollMultishot>);

} // namespace ringbahn::events
