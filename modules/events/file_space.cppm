// SPDX-License-Identifier: MIT
// ringbahn:events.file_space — a file's size, space and caching: fallocate, ftruncate,
// fadvise, madvise, sync_file_range.
module;
#include <liburing.h>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <span>
export module ringbahn:events.file_space;
import :buffers.buffer;
import :protocol.cancellation;
import :detail.sqe;
import :protocol.event;

namespace ringbahn::events {

// fallocate(2): mode 0 reserves [offset, offset+len) and grows the file to cover it.
export struct Fallocate {
    int fd;
    int mode;
    std::uint64_t offset;
    std::uint64_t len;

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        // liburing's layout: the length rides in addr, the mode in len.
        detail::prep_rw(sqes[0], IORING_OP_FALLOCATE, fd, nullptr, static_cast<std::uint32_t>(mode),
                        offset);
        sqes[0].addr = len;
    }
    [[nodiscard]] inline Cancellation cancel() && noexcept { return {}; }
};
static_assert(Event<Fallocate>);

// ftruncate(2), kernel ≥ 6.9; on older kernels the driver runs the syscall instead.
export struct Ftruncate {
    int fd;
    std::uint64_t length;

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        detail::prep_rw(sqes[0], detail::op_ftruncate, fd, nullptr, 0, length);
    }
    [[nodiscard]] inline Cancellation cancel() && noexcept { return {}; }
};
static_assert(Event<Ftruncate>);

// posix_fadvise(2): advice is POSIX_FADV_*.
export struct Fadvise {
    int fd;
    std::uint64_t offset;
    std::uint32_t len;
    int advice;

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        detail::prep_rw(sqes[0], IORING_OP_FADVISE, fd, nullptr, len, offset);
        sqes[0].fadvise_advice = static_cast<std::uint32_t>(advice);
    }
    [[nodiscard]] inline Cancellation cancel() && noexcept { return {}; }
};
static_assert(Event<Fadvise>);

// madvise(2) on the caller's own mapping (advice is MADV_*). The kernel acts on the address
// range, not on bytes the event could own, so the range is borrowed, visibly: the caller
// promises the mapping stays what it is until the op's last CQE (see UnsafeBorrow).
export struct Madvise {
    UnsafeBorrow memory;
    int advice;

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        // The SQE's length is 32 bits: a longer range would be advised only in part.
        if (memory.size() > 0xffffffffu) return detail::prep_error(sqes[0], EINVAL);
        detail::prep_rw(sqes[0], IORING_OP_MADVISE, -1, memory.data(),
                        static_cast<std::uint32_t>(memory.size()), 0);
        sqes[0].fadvise_advice = static_cast<std::uint32_t>(advice);
    }
    [[nodiscard]] inline Cancellation cancel() && noexcept { return {}; }
};
static_assert(Event<Madvise>);

// sync_file_range(2): flags are SYNC_FILE_RANGE_*.
export struct SyncFileRange {
    int fd;
    std::uint64_t offset;
    std::uint32_t len;
    unsigned flags;

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        detail::prep_rw(sqes[0], IORING_OP_SYNC_FILE_RANGE, fd, nullptr, len, offset);
        sqes[0].sync_range_flags = flags;
    }
    [[nodiscard]] inline Cancellation cancel() && noexcept { return {}; }
};
static_assert(Event<SyncFileRange>);

} // namespace ringbahn::events
