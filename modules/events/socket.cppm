// SPDX-License-Identifier: MIT
// ringbahn:events.socket — a socket's life: socket, bind, listen, shutdown.
module;
#include <liburing.h>
#include <sys/socket.h>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
export module ringbahn:events.socket;
import :protocol.cancellation;
import :detail.sqe;
import :protocol.event;
import :protocol.error;
import :protocol.fd_reclaim;
import :io.owned_fd;

namespace ringbahn::events {

// socket(2) (5.19); the value is the new fd, SOCK_CLOEXEC added. A socket made after the
// awaiter went away is closed.
export struct Socket {
    int domain;
    int type;
    int protocol = 0;

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        detail::prep_rw(sqes[0], IORING_OP_SOCKET, domain, nullptr,
                        static_cast<std::uint32_t>(protocol), static_cast<std::uint32_t>(type | SOCK_CLOEXEC));
    }
    [[nodiscard]] inline Result<io::OwnedFd> output(Result<std::uint32_t> r) && noexcept { return owned_fd(r); }
    [[nodiscard]] inline Cancellation cancel() && noexcept { return close_fd_from_cqe(); }
};
static_assert(Event<Socket>);

// bind(2) (6.11; before that the driver runs the syscall). The address is copied to the heap;
// one longer than sockaddr_storage fails the op with EINVAL.
export struct Bind {
    Bind(int fd, const ::sockaddr* addr, ::socklen_t len)
        : fd(fd), len(len), addr(std::make_unique<::sockaddr_storage>()),
          invalid(detail::copy_address(*this->addr, addr, len)) {}
    int fd;
    ::socklen_t len;
    std::unique_ptr<::sockaddr_storage> addr;
    int invalid; // an errno found when the event was made; the op then fails with it

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        if (invalid) return detail::prep_error(sqes[0], invalid);
        detail::prep_rw(sqes[0], detail::op_bind, fd, addr.get(), 0, len);
    }
    [[nodiscard]] inline Cancellation cancel() && noexcept { return hold_until_cqe(std::move(addr)); }
};
static_assert(Event<Bind>);

// listen(2) (6.11; before that the driver runs the syscall).
export struct Listen {
    int fd;
    int backlog = 1024;

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        detail::prep_rw(sqes[0], detail::op_listen, fd, nullptr, static_cast<std::uint32_t>(backlog), 0);
    }
    [[nodiscard]] inline Cancellation cancel() && noexcept { return {}; }
};
static_assert(Event<Listen>);

// shutdown(2): how is SHUT_RD, SHUT_WR or SHUT_RDWR.
export struct Shutdown {
    int fd;
    int how;

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        detail::prep_rw(sqes[0], IORING_OP_SHUTDOWN, fd, nullptr, static_cast<std::uint32_t>(how), 0);
    }
    [[nodiscard]] inline Cancellation cancel() && noexcept { return {}; }
};
static_assert(Event<Shutdown>);

} // namespace ringbahn::events
