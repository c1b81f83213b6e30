// SPDX-License-Identifier: MIT
// ringbahn:events.statx — IORING_OP_STATX: file status by path (or fd with AT_EMPTY_PATH).
module;
#include <liburing.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
export module ringbahn:events.statx;
import :protocol.cancellation;
import :detail.c_string;
import :detail.sqe;
import :protocol.event;

namespace ringbahn::events {

// The kernel writes the answer into `result` (heap: it may arrive after a move).
export struct Statx {
    Statx(int dirfd, std::string_view path, int flags = 0, unsigned mask = STATX_BASIC_STATS)
        : dirfd(dirfd), flags(flags), mask(mask), path(path) {}

    int dirfd;
    int flags;
    unsigned mask;
    detail::CString path;
    std::unique_ptr<struct ::statx> result = std::make_unique<struct ::statx>();

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        detail::prep_rw(sqes[0], IORING_OP_STATX, dirfd, path.get(), mask,
                        reinterpret_cast<std::uintptr_t>(result.get()));
        sqes[0].statx_flags = static_cast<std::uint32_t>(flags);
    }
    [[nodiscard]] inline Cancellation cancel() && noexcept {
        return hold_until_cqe(std::move(path), std::move(result));
    }
};
static_assert(Event<Statx>);

} // namespace ringbahn::events
