// SPDX-License-Identifier: MIT
// ringbahn:events.msg — IORING_OP_SENDMSG and IORING_OP_RECVMSG: scatter/gather with an address.
module;
#include <liburing.h>
#include <cerrno>
#include <sys/socket.h>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <utility>
#include <vector>
export module ringbahn:events.msg;
import :buffers.buffer;
import :protocol.cancellation;
import :detail.iovecs;
import :detail.sqe;
import :protocol.event;

namespace ringbahn::events {

// The msghdr, its iovecs and the peer address live on the heap beside the buffers: the kernel
// reads (sendmsg) or writes (recvmsg) them, maybe after the event moved.
struct MsgHeader {
    ::msghdr msg{};
    ::sockaddr_storage peer{};
};

// sendmsg(2): bufs in order, to `to` if given (datagrams), MSG_NOSIGNAL added.
export template <OwnedBuffer B = std::vector<std::byte>>
struct Sendmsg {
    Sendmsg(int fd, std::vector<B> bufs, const ::sockaddr* to = nullptr, ::socklen_t to_len = 0, int flags = 0)
        : fd(fd), flags(flags), bufs(std::move(bufs)), iov(detail::Iovecs::over(this->bufs)),
          header(std::make_unique<MsgHeader>()) {
        header->msg.msg_iov = const_cast<::iovec*>(iov.data());
        header->msg.msg_iovlen = iov.size();
        // Never copied past the heap copy: a longer address fails the op with EINVAL.
        invalid = detail::copy_address(header->peer, to, to_len);
        if (to && !invalid) {
            header->msg.msg_name = &header->peer;
            header->msg.msg_namelen = to_len;
        }
    }
    int fd;
    int flags;
    int invalid = 0; // an errno found when the event was made; the op then fails with it
    std::vector<B> bufs;
    detail::Iovecs iov;
    std::unique_ptr<MsgHeader> header;

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        if (invalid) return detail::prep_error(sqes[0], invalid);
        if (!header || !iov.refresh(bufs)) return detail::prep_error(sqes[0], EINVAL);
        header->msg.msg_iov = const_cast<::iovec*>(iov.data());
        detail::prep_rw(sqes[0], IORING_OP_SENDMSG, fd, &header->msg, 1, 0);
        sqes[0].msg_flags = static_cast<std::uint32_t>(flags | MSG_NOSIGNAL);
    }
    [[nodiscard]] inline Cancellation cancel() && noexcept {
        return hold_until_cqe(std::move(bufs), std::move(iov), std::move(header));
    }
};
static_assert(Event<Sendmsg<>>);

// recvmsg(2) into bufs; the sender's address lands in header->peer (length in msg_namelen).
export template <OwnedBuffer B = std::vector<std::byte>>
struct Recvmsg {
    Recvmsg(int fd, std::vector<B> bufs, int flags = 0)
        : fd(fd), flags(flags), bufs(std::move(bufs)), iov(detail::Iovecs::over(this->bufs)),
          header(std::make_unique<MsgHeader>()) {
        header->msg.msg_iov = const_cast<::iovec*>(iov.data());
        header->msg.msg_iovlen = iov.size();
        header->msg.msg_name = &header->peer;
        header->msg.msg_namelen = sizeof(::sockaddr_storage);
    }
    int fd;
    int flags;
    std::vector<B> bufs;
    detail::Iovecs iov;
    std::unique_ptr<MsgHeader> header;

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        if (!header || !iov.refresh(bufs)) return detail::prep_error(sqes[0], EINVAL);
        header->msg.msg_iov = const_cast<::iovec*>(iov.data());
        // Each receive has room for any sender's address: the last one shrank msg_namelen to
        // its own, and a resubmitted event would cut the next sender's short.
        header->msg.msg_name = &header->peer;
        header->msg.msg_namelen = sizeof(::sockaddr_storage);
        detail::prep_rw(sqes[0], IORING_OP_RECVMSG, fd, &header->msg, 1, 0);
        sqes[0].msg_flags = static_cast<std::uint32_t>(flags);
    }
    [[nodiscard]] inline Cancellation cancel() && noexcept {
        return hold_until_cqe(std::move(bufs), std::move(iov), std::move(header));
    }
};
static_assert(Event<Recvmsg<>>);

} // namespace ringbahn::events
