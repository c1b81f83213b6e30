// SPDX-License-Identifier: MIT
// ringbahn:events.accept — IORING_OP_ACCEPT: take one connection, owned by the awaiter.
module;
#include <liburing.h>
#include <sys/socket.h>
#include <cstdint>
#include <span>
export module ringbahn:events.accept;
import :protocol.cancellation;
import :detail.sqe;
import :protocol.event;
import :protocol.error;
import :protocol.fd_reclaim;
import :io.owned_fd;

namespace ringbahn::events {

// The output is the connection's fd, owned (`Result<io::OwnedFd>`); SOCK_CLOEXEC is added. A
// connection accepted after the awaiter went away is closed. The peer's address is not asked
// for (no per-accept allocation): `io::peer_address(fd)` reads it when wanted.
export struct Accept {
    int fd;
    int flags = 0;

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        detail::prep_rw(sqes[0], IORING_OP_ACCEPT, fd, nullptr, 0, 0);
        sqes[0].accept_flags = static_cast<std::uint32_t>(flags | SOCK_CLOEXEC);
    }
    [[nodiscard]] inline Result<io::OwnedFd> output(Result<std::uint32_t> r) && noexcept { return owned_fd(r); }
    [[nodiscard]] inline Cancellation cancel() && noexcept { return close_fd_from_cqe(); }
};
static_assert(Event<Accept>);

} // namespace ringbahn::events
