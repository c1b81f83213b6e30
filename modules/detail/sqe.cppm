// SPDX-License-Identifier: MIT
// ringbahn:detail.sqe — fills SQE fields for templates and inline code; nothing exported.
module;
#include <liburing.h>
#include <atomic>
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

// SQ slots the kernel has consumed and we may fill: io_uring_sq_space_left, inline.
inline std::uint32_t sq_space_left(::io_uring& ring) noexcept {
    const unsigned head = std::atomic_ref<unsigned>(*ring.sq.khead).load(std::memory_order_acquire);
    return ring.sq.ring_entries - (ring.sq.sqe_tail - head);
}

// io_uring_get_sqe, inline: the next free SQE, or nullptr when the SQ is full.
inline ::io_uring_sqe* get_sqe(::io_uring& ring) noexcept {
    ::io_uring_sq& sq = ring.sq;
    const unsigned head = std::atomic_ref<unsigned>(*sq.khead).load(std::memory_order_acquire);
    if (sq.sqe_tail - head >= sq.ring_entries) return nullptr;
    const unsigned shift = (ring.flags & IORING_SETUP_SQE128) ? 1 : 0;
    return &sq.sqes[(sq.sqe_tail++ & sq.ring_mask) << shift];
}

// ASYNC_CANCEL aimed at the op whose user_data is `target`.
inline void prep_cancel_user_data(::io_uring_sqe& sqe, std::uint64_t target,
                                  std::uint32_t flags) noexcept {
    prep_rw(sqe, IORING_OP_ASYNC_CANCEL, -1, nullptr, 0, 0);
    sqe.addr = target;
    sqe.cancel_flags = flags;
}

} // namespace ringbahn::detail
