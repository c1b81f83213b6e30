// SPDX-License-Identifier: MIT
// ringbahn:protocol.error — errors in the IO path are values: Result<T> = std::expected<T, std::error_code>.
module;
#include <cstdint>
#include <expected>
#include <string>
#include <system_error>
export module ringbahn:protocol.error;

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

// Conditions the kernel has no errno for.
export enum class Errc {
    unexpected_eof = 1, // read_exact reached end of file first
    pool_exhausted,     // a pool in fail mode had no buffer to lease
    write_zero,         // the kernel accepted 0 bytes of a non-empty write
};

namespace detail {
class ErrcCategory final : public std::error_category {
  public:
    const char* name() const noexcept override { return "ringbahn"; }
    std::string message(int c) const override {
        switch (static_cast<Errc>(c)) {
        case Errc::unexpected_eof: return "unexpected end of file";
        case Errc::pool_exhausted: return "buffer pool exhausted";
        case Errc::write_zero: return "write accepted zero bytes";
        }
        return "unknown ringbahn error";
    }
};
inline const ErrcCategory errc_category{};
} // namespace detail

export [[nodiscard]] inline std::error_code make_error_code(Errc e) noexcept {
    return {static_cast<int>(e), detail::errc_category};
}

} // namespace ringbahn

export template <>
struct std::is_error_code_enum<ringbahn::Errc> : std::true_type {};
