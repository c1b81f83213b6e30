// SPDX-License-Identifier: MIT
// ringbahn:fd_reclaim — the Cancellation of ops that create a file descriptor.
module;
#include <unistd.h>
#include <cstdint>
#include <type_traits>
#include <utility>
export module ringbahn:fd_reclaim;
import :cancellation;

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

} // namespace ringbahn
