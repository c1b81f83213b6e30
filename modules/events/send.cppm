// SPDX-License-Identifier: MIT
// ringbahn:events.send — IORING_OP_SEND: sends an owned buffer on a socket.
module;
#include <liburing.h>
#include <sys/socket.h>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>
export module ringbahn:events.send;
import :buffers.buffer;
import :protocol.cancellation;
import :detail.sqe;
import :protocol.event;

namespace ringbahn::events {

// MSG_NOSIGNAL is added: a closed peer gives EPIPE, not SIGPIPE.
export template <OwnedBuffer B = std::vector<std::byte>>
struct Send {
    int fd;
    B buf;
    int flags = 0;
    std::size_t len = ~std::size_t{0}; // at most this many bytes of buf

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        auto bytes = bytes_of(buf).first(len < bytes_of(buf).size() ? len : bytes_of(buf).size());
        detail::prep_rw(sqes[0], IORING_OP_SEND, fd, bytes.data(),
                        detail::clamp_rw(bytes.size()), 0);
        sqes[0].msg_flags = static_cast<std::uint32_t>(flags | MSG_NOSIGNAL);
    }
    [[nodiscard]] inline Cancellation cancel() && noexcept { return hold_until_cqe(std::move(buf)); }
};
static_assert(Event<Send<>>);

} // namespace ringbahn::events
