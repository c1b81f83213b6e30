// SPDX-License-Identifier: MIT
// ringbahn:events.openat — IORING_OP_OPENAT: open (or create) a file; the value is the new fd.
module;
#include <liburing.h>
#include <fcntl.h>
#include <sys/types.h>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
export module ringbahn:events.openat;
import :protocol.cancellation;
import :detail.c_string;
import :detail.sqe;
import :protocol.event;
import :protocol.error;
import :protocol.fd_reclaim;
import :io.owned_fd;

namespace ringbahn::events {

// The path is copied to the heap: the kernel may read it after the caller's string is gone.
// O_CLOEXEC is added. If the awaiter goes away and the open succeeds anyway, the fd is closed.
export struct Openat {
    Openat(int dirfd, std::string_view path, int flags, ::mode_t mode = 0)
        : dirfd(dirfd), flags(flags | O_CLOEXEC), mode(mode),
          path(detail::CString(path).release()) {} // a NUL inside: refused (see CString)

    int dirfd;
    int flags;
    ::mode_t mode;
    std::unique_ptr<char[]> path;

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        detail::prep_rw(sqes[0], IORING_OP_OPENAT, dirfd, path.get(), mode, 0);
        sqes[0].open_flags = static_cast<std::uint32_t>(flags);
    }
    [[nodiscard]] inline Result<io::OwnedFd> output(Result<std::uint32_t> r) && noexcept { return owned_fd(r); }
    [[nodiscard]] inline Cancellation cancel() && noexcept { return close_fd_from_cqe(std::move(path)); }
};
static_assert(Event<Openat>);

} // namespace ringbahn::events
