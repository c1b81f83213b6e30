// SPDX-License-Identifier: MIT
// ringbahn:events.accept — IORING_OP_ACCEPT: take one connection; the value is its fd.
module;
#include <liburing.h>
#include <sys/socket.h>
#include <cstdint>
#include <memory>
#include <span>
export module ringbahn:events.accept;
import :cancellation;
import :detail.sqe;
import :event;
import :fd_reclaim;

namespace ringbahn::events {

// The peer's address lands in `peer` (heap: the kernel writes it when the connection arrives).
// SOCK_CLOEXEC is added. A connection accepted after the awaiter went away is closed.
export struct Accept {
    struct Peer {
        ::sockaddr_storage addr{};
        ::socklen_t len = sizeof(::sockaddr_storage);
    };

    int fd;
    int flags = 0;
    std::unique_ptr<Peer> peer = std::make_unique<Peer>();

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        // A caller may have dropped `peer` (a public member): then no address is asked for.
        detail::prep_rw(sqes[0], IORING_OP_ACCEPT, fd, peer ? &peer->addr : nullptr, 0,
                        peer ? reinterpret_cast<std::uintptr_t>(&peer->len) : 0);
        sqes[0].accept_flags = static_cast<std::uint32_t>(flags | SOCK_CLOEXEC);
    }
    [[nodiscard]] inline Cancellation cancel() && noexcept { return close_fd_from_cqe(std::move(peer)); }
};
static_assert(Event<Accept>);

} // namespace ringbahn::events
