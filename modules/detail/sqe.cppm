// SPDX-License-Identifier: MIT
// ringbahn:detail.sqe — fills SQE fields for templates and inline code; nothing exported.
module;
#include <liburing.h>
#include <cstdint>
#include <cstring>
export module ringbahn:detail.sqe;

// liburing 2.3 declares its io_uring_prep_* helpers `static inline`: a template instantiated in
// a user's translation unit cannot call them (internal linkage in another TU). These inline
// functions write the same fields, and let ops newer than liburing 2.3 be filled by hand.
namespace ringbahn::detail {

inline void prep_rw(::io_uring_sqe& sqe, std::uint8_t opcode, int fd, const void* addr,
                    std::uint32_t len, std::uint64_t offset) noexcept {
    std::memset(&sqe, 0, sizeof sqe);
    sqe.opcode = opcode;
    sqe.fd = fd;
    sqe.off = offset;
    sqe.addr = reinterpret_cast<std::uintptr_t>(addr);
    sqe.len = len;
}

// ASYNC_CANCEL aimed at the op whose user_data is `target`.
inline void prep_cancel_user_data(::io_uring_sqe& sqe, std::uint64_t target,
                                  std::uint32_t flags) noexcept {
    prep_rw(sqe, IORING_OP_ASYNC_CANCEL, -1, nullptr, 0, 0);
    sqe.addr = target;
    sqe.cancel_flags = flags;
}

} // namespace ringbahn::detail
