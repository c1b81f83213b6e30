// SPDX-License-Identifier: MIT
// ringbahn:events.futex — IORING_OP_FUTEX_WAIT and IORING_OP_FUTEX_WAKE (6.7).
module;
#include <liburing.h>
#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
export module ringbahn:events.futex;
import :protocol.cancellation;
import :detail.sqe;
import :protocol.event;

namespace ringbahn::events {

// The futex word is shared (the kernel reads it, maybe after the awaiter is gone, so the
// event co-owns it). 32-bit private futexes (futex2: FUTEX2_SIZE_U32 | FUTEX2_PRIVATE).
export using FutexWord = std::shared_ptr<std::atomic<std::uint32_t>>;
inline constexpr int futex2_u32_private = 0x02 | 128;
inline constexpr std::uint64_t futex_match_any = 0xffffffff;

// Sleeps while *word == expected; the value is 0 once woken. EAGAIN when *word differs already.
export struct FutexWait {
    FutexWord word;
    std::uint32_t expected;

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        detail::prep_rw(sqes[0], detail::op_futex_wait, futex2_u32_private, word.get(), 0, expected);
        sqes[0].addr3 = futex_match_any;
    }
    [[nodiscard]] inline Cancellation cancel() && noexcept { return hold_until_cqe(std::move(word)); }
};
static_assert(Event<FutexWait>);

// Wakes up to `count` waiters on word; the value is how many woke.
export struct FutexWake {
    FutexWord word;
    std::uint32_t count = 1;

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        detail::prep_rw(sqes[0], detail::op_futex_wake, futex2_u32_private, word.get(), 0, count);
        sqes[0].addr3 = futex_match_any;
    }
    [[nodiscard]] inline Cancellation cancel() && noexcept { return hold_until_cqe(std::move(word)); }
};
static_assert(Event<FutexWake>);

} // namespace ringbahn::events
