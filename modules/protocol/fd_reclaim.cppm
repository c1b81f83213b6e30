// SPDX-License-Identifier: MIT
// ringbahn:protocol.fd_reclaim — ops that create a file descriptor: their output owns it, their
// Cancellation closes it.
module;
#include <unistd.h>
#include <cstdint>
#include <expected>
#include <type_traits>
#include <utility>
export module ringbahn:protocol.fd_reclaim;
import :protocol.cancellation;
import :protocol.error;
import :io.owned_fd;

namespace ringbahn {

// accept, openat and socket may complete although they were cancelled: the CQE then carries a
// new fd that nobody will ever see. Close it, then free the storage the op borrowed.
export template <class... Storage>
    requires(std::is_nothrow_move_constructible_v<Storage> && ...)
[[nodiscard]] Cancellation close_fd_from_cqe(Storage... storage) {
    return Cancellation{[... held = std::move(storage)](std::int32_t res, std::uint32_t) noexcept {
        if (res >= 0) ::close(res);
    }};
}

// The output of such an op: the fd is owned from the moment the awaiter gets it, so a result
// nobody looks at closes it instead of leaking it.
export [[nodiscard]] inline Result<io::OwnedFd> owned_fd(Result<std::uint32_t> r) noexcept {
    if (!r) return std::unexpected(r.error());
    return io::OwnedFd(static_cast<int>(*r));
}

} // namespace ringbahn
