// SPDX-License-Identifier: MIT
// ringbahn:events.writev — IORING_OP_WRITEV: gather a write from several owned buffers.
module;
#include <liburing.h>
#include <cerrno>
#include <sys/uio.h>
#include <cstdint>
#include <memory>
#include <span>
#include <utility>
#include <vector>
export module ringbahn:events.writev;
import :buffers.buffer;
import :protocol.cancellation;
import :detail.iovecs;
import :detail.sqe;
import :protocol.event;

namespace ringbahn::events {

// Writes bufs in order; the op's value is the total byte count. The iovec array lives on the
// heap beside the buffers, so moving the event moves neither.
export template <OwnedBuffer B = std::vector<std::byte>>
struct Writev {
    int fd;
    std::vector<B> bufs;
    std::uint64_t offset = current_offset;
    detail::Iovecs iov = detail::Iovecs::over(bufs);

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        if (!iov.refresh(bufs)) return detail::prep_error(sqes[0], EINVAL);
        detail::prep_rw(sqes[0], IORING_OP_WRITEV, fd, iov.data(), iov.size(), offset);
    }
    [[nodiscard]] inline Cancellation cancel() && noexcept {
        return hold_until_cqe(std::move(bufs), std::move(iov));
    }
};
static_assert(Event<Writev<>>);

} // namespace ringbahn::events
