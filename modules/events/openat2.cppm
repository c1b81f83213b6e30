// SPDX-License-Identifier: MIT
// ringbahn:events.openat2 — IORING_OP_OPENAT2: open with resolve rules (RESOLVE_BENEATH, ...).
module;
#include <liburing.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
export module ringbahn:events.openat2;
import :protocol.cancellation;
import :detail.c_string;
import :detail.sqe;
import :protocol.event;
import :protocol.error;
import :protocol.fd_reclaim;
import :io.owned_fd;

namespace ringbahn::events {

// openat2(2): `resolve` confines the lookup (RESOLVE_BENEATH refuses "..", absolute paths and
// symlinks out of dirfd with EXDEV). O_CLOEXEC is added; the value is the new fd, closed if the
// awaiter went away first.
export struct Openat2 {
    Openat2(int dirfd, std::string_view path, std::uint64_t flags, std::uint64_t resolve = 0,
            std::uint64_t mode = 0)
        : dirfd(dirfd), path(path), how(std::make_unique<::open_how>()) {
        how->flags = flags | O_CLOEXEC;
        how->mode = mode;
        how->resolve = resolve;
    }
    int dirfd;
    detail::CString path;
    std::unique_ptr<::open_how> how;

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        detail::prep_rw(sqes[0], IORING_OP_OPENAT2, dirfd, path.get(), sizeof(::open_how),
                        reinterpret_cast<std::uintptr_t>(how.get()));
    }
    [[nodiscard]] inline Result<io::OwnedFd> output(Result<std::uint32_t> r) && noexcept { return owned_fd(r); }
    [[nodiscard]] inline Cancellation cancel() && noexcept {
        return close_fd_from_cqe(std::move(path), std::move(how));
    }
};
static_assert(Event<Openat2>);

} // namespace ringbahn::events
