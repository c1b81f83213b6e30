// SPDX-License-Identifier: MIT
// ringbahn:events.send_zc — IORING_OP_SEND_ZC and IORING_OP_SENDMSG_ZC: sends from the buffer's
// own pages, no copy into the socket.
module;
#include <liburing.h>
#include <sys/socket.h>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>
export module ringbahn:events.send_zc;
import :buffers.buffer;
import :protocol.cancellation;
import :detail.sqe;
import :protocol.event;
import :events.msg;

namespace ringbahn::events {

// A zero-copy send posts two CQEs: the result (with F_MORE), then — once the network stack no
// longer reads the pages — a notification (F_NOTIF). The Completion counts both: the awaiter
// resumes, and a Cancellation frees the buffer, only after the notification. Worth it for
// large messages; below ~8 KiB a copy is cheaper (bench/ has both). MSG_NOSIGNAL is added.
export template <OwnedBuffer B = std::vector<std::byte>>
struct SendZc {
    int fd;
    B buf;
    int flags = 0;
    std::size_t len = ~std::size_t{0};

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        auto bytes = bytes_of(buf).first(len < bytes_of(buf).size() ? len : bytes_of(buf).size());
        detail::prep_rw(sqes[0], IORING_OP_SEND_ZC, fd, bytes.data(),
                        detail::clamp_rw(bytes.size()), 0);
        sqes[0].msg_flags = static_cast<std::uint32_t>(flags | MSG_NOSIGNAL);
    }
    [[nodiscard]] inline Cancellation cancel() && noexcept { return hold_until_cqe(std::move(buf)); }
};
static_assert(Event<SendZc<>>);

// sendmsg(2), zero-copy: a Sendmsg whose pages the kernel reads in place (two CQEs, as above).
export template <OwnedBuffer B = std::vector<std::byte>>
struct SendmsgZc {
    Sendmsg<B> msg;

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey& key, std::span<::io_uring_sqe> sqes) noexcept {
        msg.prepare(key, sqes);
        sqes[0].opcode = IORING_OP_SENDMSG_ZC;
    }
    [[nodiscard]] inline Cancellation cancel() && noexcept { return std::move(msg).cancel(); }
};
static_assert(Event<SendmsgZc<>>);

} // namespace ringbahn::events
