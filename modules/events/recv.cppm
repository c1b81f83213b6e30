// SPDX-License-Identifier: MIT
// ringbahn:events.recv — IORING_OP_RECV: receives into an owned buffer from a socket.
module;
#include <liburing.h>
#include <sys/socket.h>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>
export module ringbahn:events.recv;
import :buffers.buffer;
import :protocol.cancellation;
import :detail.sqe;
import :protocol.event;

namespace ringbahn::events {

// The value is the byte count; 0 means the peer closed its side.
export template <OwnedBuffer B = std::vector<std::byte>>
struct Recv {
    int fd;
    B buf;
    int flags = 0;
    std::size_t len = ~std::size_t{0}; // at most this many bytes of buf

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        auto bytes = bytes_of(buf).first(len < bytes_of(buf).size() ? len : bytes_of(buf).size());
        detail::prep_rw(sqes[0], IORING_OP_RECV, fd, bytes.data(),
                        detail::clamp_rw(bytes.size()), 0);
        sqes[0].msg_flags = static_cast<std::uint32_t>(flags);
    }
    [[nodiscard]] inline Cancellation cancel() && noexcept { return hold_until_cqe(std::move(buf)); }
};
static_assert(Event<Recv<>>);

} // namespace ringbahn::events
