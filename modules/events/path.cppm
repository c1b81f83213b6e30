// SPDX-License-Identifier: MIT
// ringbahn:events.path — the directory-entry ops: renameat, unlinkat, mkdirat, symlinkat, linkat.
module;
#include <liburing.h>
#include <sys/types.h>
#include <cstdint>
#include <span>
#include <string_view>
export module ringbahn:events.path;
import :protocol.cancellation;
import :detail.c_string;
import :detail.sqe;
import :protocol.event;

namespace ringbahn::events {

// Paths are copied to the heap when the event is made; relative ones resolve against dirfd
// (AT_FDCWD: the working directory). The value is 0.

// renameat2(2): flags RENAME_NOREPLACE, RENAME_EXCHANGE.
export struct Renameat {
    Renameat(int old_dir, std::string_view from, int new_dir, std::string_view to, unsigned flags = 0)
        : old_dir(old_dir), new_dir(new_dir), flags(flags), from(from), to(to) {}
    int old_dir, new_dir;
    unsigned flags;
    detail::CString from, to;

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        detail::prep_rw(sqes[0], IORING_OP_RENAMEAT, old_dir, from.get(),
                        static_cast<std::uint32_t>(new_dir), reinterpret_cast<std::uintptr_t>(to.get()));
        sqes[0].rename_flags = flags;
    }
    [[nodiscard]] inline Cancellation cancel() && noexcept {
        return hold_until_cqe(std::move(from), std::move(to));
    }
};
static_assert(Event<Renameat>);

// unlinkat(2): flags AT_REMOVEDIR removes a directory.
export struct Unlinkat {
    Unlinkat(int dirfd, std::string_view path, int flags = 0) : dirfd(dirfd), flags(flags), path(path) {}
    int dirfd;
    int flags;
    detail::CString path;

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        detail::prep_rw(sqes[0], IORING_OP_UNLINKAT, dirfd, path.get(), 0, 0);
        sqes[0].unlink_flags = static_cast<std::uint32_t>(flags);
    }
    [[nodiscard]] inline Cancellation cancel() && noexcept { return hold_until_cqe(std::move(path)); }
};
static_assert(Event<Unlinkat>);

export struct Mkdirat {
    Mkdirat(int dirfd, std::string_view path, ::mode_t mode = 0755) : dirfd(dirfd), mode(mode), path(path) {}
    int dirfd;
    ::mode_t mode;
    detail::CString path;

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        detail::prep_rw(sqes[0], IORING_OP_MKDIRAT, dirfd, path.get(), mode, 0);
    }
    [[nodiscard]] inline Cancellation cancel() && noexcept { return hold_until_cqe(std::move(path)); }
};
static_assert(Event<Mkdirat>);

// A symlink at `link` (relative to dirfd) whose content is `target`.
export struct Symlinkat {
    Symlinkat(std::string_view target, int dirfd, std::string_view link)
        : dirfd(dirfd), target(target), link(link) {}
    int dirfd;
    detail::CString target, link;

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        detail::prep_rw(sqes[0], IORING_OP_SYMLINKAT, dirfd, target.get(), 0,
                        reinterpret_cast<std::uintptr_t>(link.get()));
    }
    [[nodiscard]] inline Cancellation cancel() && noexcept {
        return hold_until_cqe(std::move(target), std::move(link));
    }
};
static_assert(Event<Symlinkat>);

// linkat(2): a hard link; flags AT_SYMLINK_FOLLOW.
export struct Linkat {
    Linkat(int old_dir, std::string_view from, int new_dir, std::string_view to, int flags = 0)
        : old_dir(old_dir), new_dir(new_dir), flags(flags), from(from), to(to) {}
    int old_dir, new_dir;
    int flags;
    detail::CString from, to;

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        detail::prep_rw(sqes[0], IORING_OP_LINKAT, old_dir, from.get(),
                        static_cast<std::uint32_t>(new_dir), reinterpret_cast<std::uintptr_t>(to.get()));
        sqes[0].hardlink_flags = static_cast<std::uint32_t>(flags);
    }
    [[nodiscard]] inline Cancellation cancel() && noexcept {
        return hold_until_cqe(std::move(from), std::move(to));
    }
};
static_assert(Event<Linkat>);

} // namespace ringbahn::events
