// SPDX-License-Identifier: MIT
// ringbahn:events.timeout — IORING_OP_TIMEOUT: a timer in the ring.
module;
#include <liburing.h>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
export module ringbahn:events.timeout;
import :cancellation;
import :detail.sqe;
import :event;

namespace ringbahn::events {

// Relative to now (CLOCK_MONOTONIC). When the time is up the kernel reports ETIME, which comes
// back as std::errc::stream_timeout: that is the timer's normal ending. With `count` > 0 it
// also ends (with value 0) once that many other CQEs were posted.
export struct Timeout {
    explicit Timeout(std::chrono::nanoseconds after, std::uint32_t count = 0)
        : count(count), when(std::make_unique<::__kernel_timespec>()) {
        when->tv_sec = after.count() / 1'000'000'000;
        when->tv_nsec = after.count() % 1'000'000'000;
    }

    std::uint32_t count;
    std::unique_ptr<::__kernel_timespec> when; // heap: read by the kernel, maybe after a move

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        detail::prep_rw(sqes[0], IORING_OP_TIMEOUT, -1, when.get(), 1, count);
    }
    [[nodiscard]] inline Cancellation cancel() && noexcept { return hold_until_cqe(std::move(when)); }
};
static_assert(Event<Timeout>);

} // namespace ringbahn::events
