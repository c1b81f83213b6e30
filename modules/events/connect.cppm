// SPDX-License-Identifier: MIT
// ringbahn:events.connect — IORING_OP_CONNECT: connect a socket to an address.
module;
#include <liburing.h>
#include <sys/socket.h>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
export module ringbahn:events.connect;
import :protocol.cancellation;
import :detail.sqe;
import :protocol.event;

namespace ringbahn::events {

// The address is copied to the heap when the event is made. One longer than sockaddr_storage
// (or a null one with a length) is never truncated — the op fails with EINVAL.
export struct Connect {
    Connect(int fd, const ::sockaddr* addr, ::socklen_t len)
        : fd(fd), len(len), addr(std::make_unique<::sockaddr_storage>()),
          invalid(detail::copy_address(*this->addr, addr, len)) {}

    int fd;
    ::socklen_t len;
    std::unique_ptr<::sockaddr_storage> addr;
    int invalid; // an errno found when the event was made; the op then fails with it

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        if (invalid) return detail::prep_error(sqes[0], invalid);
        detail::prep_rw(sqes[0], IORING_OP_CONNECT, fd, addr.get(), 0, len);
    }
    [[nodiscard]] inline Cancellation cancel() && noexcept { return hold_until_cqe(std::move(addr)); }
};
static_assert(Event<Connect>);

} // namespace ringbahn::events
