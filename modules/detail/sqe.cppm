// SPDX-License-Identifier: MIT
// ringbahn:detail.sqe — fills SQE fields for templates and inline code; nothing exported.
module;
#include <liburing.h>
#include <sys/socket.h>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
export module ringbahn:detail.sqe;

// liburing 2.3 declares its io_uring_prep_* helpers `static inline`: a template instantiated in
// a user's translation unit cannot call them (internal linkage in another TU). These inline
// functions write the same fields, and let ops newer than liburing 2.3 be filled by hand.
namespace ringbahn::detail {

// Opcodes newer than liburing 2.3's header (include/uapi/linux/io_uring.h, enum io_uring_op).
inline constexpr std::uint8_t op_read_multishot = 49; // 6.7
inline constexpr std::uint8_t op_waitid = 50;         // 6.7
inline constexpr std::uint8_t op_futex_wait = 51;     // 6.7
inline constexpr std::uint8_t op_futex_wake = 52;     // 6.7
inline constexpr std::uint8_t op_ftruncate = 55;      // 6.9
inline constexpr std::uint8_t op_bind = 56;           // 6.11
inline constexpr std::uint8_t op_listen = 57;         // 6.11
// IORING_OP_NOP flag (6.10): post sqe->len as the CQE's res.
inline constexpr std::uint32_t nop_inject_result = 1;

inline void prep_rw(::io_uring_sqe& sqe, std::uint8_t opcode, int fd, const void* addr,
                    std::uint32_t len, std::uint64_t offset) noexcept {
    sqe = ::io_uring_sqe{}; // zero every field (two vector stores, not a memset call)
    sqe.opcode = opcode;
    sqe.fd = fd;
    sqe.off = offset;
    sqe.addr = reinterpret_cast<std::uintptr_t>(addr);
    sqe.len = len;
}

// The most bytes one read or write moves (the kernel's MAX_RW_COUNT: INT_MAX rounded down to a
// page). A longer buffer is offered in part: the op reports a short count, which is the truth —
// never a 32-bit wrap that turns 4 GiB into 0 bytes, i.e. a false end of file.
inline constexpr std::uint32_t max_rw_bytes = 0x7ffff000;
[[nodiscard]] inline std::uint32_t clamp_rw(std::size_t n) noexcept {
    return n < max_rw_bytes ? static_cast<std::uint32_t>(n) : max_rw_bytes;
}
// A length or count in a 32-bit SQE field: past the field, the largest value it holds, so the
// kernel refuses it with its own error (E2BIG, EINVAL) instead of acting on a wrapped value.
[[nodiscard]] inline std::uint32_t clamp_u32(std::size_t n) noexcept {
    return n < 0xffffffffu ? static_cast<std::uint32_t>(n) : 0xffffffffu;
}

// An SQE that does nothing but complete with -err: for an event whose arguments were found
// invalid when it was made (a constructor cannot return an error). Its CQE is the op's.
inline void prep_error(::io_uring_sqe& sqe, int err) noexcept;

// Copies a caller's socket address into the event's heap copy. Returns 0, or EINVAL for an
// address that does not fit (it is refused, never truncated: a cut AF_UNIX path names another
// socket) or a null address with a length.
[[nodiscard]] inline int copy_address(::sockaddr_storage& to, const ::sockaddr* from,
                                      ::socklen_t len) noexcept {
    if (len > sizeof(::sockaddr_storage) || (from == nullptr && len != 0)) return EINVAL;
    if (len) std::memcpy(&to, from, len);
    return 0;
}

// SQ slots the kernel has consumed and we may fill: io_uring_sq_space_left, inline.
inline std::uint32_t sq_space_left(::io_uring& ring) noexcept {
    const unsigned head = std::atomic_ref<unsigned>(*ring.sq.khead).load(std::memory_order_acquire);
    return ring.sq.ring_entries - (ring.sq.sqe_tail - head);
}

// io_uring_get_sqe, inline: the next free SQE, or nullptr when the SQ is full. Rings here are
// never SQE128 (Uring::open clears it), so an SQE is one slot.
inline ::io_uring_sqe* get_sqe(::io_uring& ring) noexcept {
    ::io_uring_sq& sq = ring.sq;
    const unsigned head = std::atomic_ref<unsigned>(*sq.khead).load(std::memory_order_acquire);
    if (sq.sqe_tail - head >= sq.ring_entries) return nullptr;
    return &sq.sqes[sq.sqe_tail++ & sq.ring_mask];
}

inline void prep_error(::io_uring_sqe& sqe, int err) noexcept {
    prep_rw(sqe, IORING_OP_NOP, -1, nullptr, static_cast<std::uint32_t>(-err), 0);
    sqe.rw_flags = nop_inject_result;
}

// ASYNC_CANCEL aimed at the op whose user_data is `target`.
inline void prep_cancel_user_data(::io_uring_sqe& sqe, std::uint64_t target,
                                  std::uint32_t flags) noexcept {
    prep_rw(sqe, IORING_OP_ASYNC_CANCEL, -1, nullptr, 0, 0);
    sqe.addr = target;
    sqe.cancel_flags = flags;
}

} // namespace ringbahn::detail
