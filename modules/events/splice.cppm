// SPDX-License-Identifier: MIT
// ringbahn:events.splice — IORING_OP_SPLICE and IORING_OP_TEE: move bytes between fds in the
// kernel, one side a pipe.
module;
#include <liburing.h>
#include <cstdint>
#include <span>
export module ringbahn:events.splice;
import :protocol.cancellation;
import :detail.sqe;
import :protocol.event;

namespace ringbahn::events {

// splice(2): up to len bytes from fd_in to fd_out. An offset of current_offset means "no
// offset" (pipes, sockets, or the file position). The value is the byte count.
export struct Splice {
    int fd_in;
    std::uint64_t off_in;
    int fd_out;
    std::uint64_t off_out;
    std::uint32_t len;
    unsigned flags = 0; // SPLICE_F_*

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        detail::prep_rw(sqes[0], IORING_OP_SPLICE, fd_out, nullptr, len, off_out);
        sqes[0].splice_off_in = off_in;
        sqes[0].splice_fd_in = fd_in;
        sqes[0].splice_flags = flags;
    }
    [[nodiscard]] inline Cancellation cancel() && noexcept { return {}; }
};
static_assert(Event<Splice>);

// tee(2): copies up to len bytes from one pipe to another without consuming them.
export struct Tee {
    int pipe_in;
    int pipe_out;
    std::uint32_t len;
    unsigned flags = 0;

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        detail::prep_rw(sqes[0], IORING_OP_TEE, pipe_out, nullptr, len, 0);
        sqes[0].splice_off_in = 0;
        sqes[0].splice_fd_in = pipe_in;
        sqes[0].splice_flags = flags;
    }
    [[nodiscard]] inline Cancellation cancel() && noexcept { return {}; }
};
static_assert(Event<Tee>);

} // namespace ringbahn::events
