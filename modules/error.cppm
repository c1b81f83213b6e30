// SPDX-License-Identifier: MIT
// ringbahn:error — errors in the IO path are values: Result<T> = std::expected<T, std::error_code>.
module;
#include <cstdint>
#include <expected>
#include <system_error>
export module ringbahn:error;

namespace ringbahn {

// Why not exceptions: EAGAIN, ECONNRESET and short IO are ordinary outcomes, completion paths
// are noexcept, and an event's buffer comes back *with* its result — a throw would lose it.
export template <class T>
using Result = std::expected<T, std::error_code>;

// errno value → error_code in the system category; callers compare against std::errc.
export [[nodiscard]] inline std::error_code errno_code(int err) noexcept {
    return {err, std::system_category()};
}

// A CQE's res: ≥ 0 is the op's value (bytes, fd, …), < 0 is -errno.
export [[nodiscard]] inline Result<std::uint32_t> cqe_result(std::int32_t res) noexcept {
    if (res < 0) return std::unexpected(errno_code(-res));
    return static_cast<std::uint32_t>(res);
}

} // namespace ringbahn
