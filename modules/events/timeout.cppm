// SPDX-License-Identifier: MIT
// ringbahn:events.timeout — IORING_OP_TIMEOUT, _REMOVE and its update: timers in the ring.
module;
#include <liburing.h>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <expected>
#include <memory>
#include <span>
#include <sys/utsname.h>
#include <cstdio>
export module ringbahn:events.timeout;
import :protocol.cancellation;
import :detail.sqe;
import :protocol.error;
import :protocol.event;
import :protocol.op_handle;

namespace ringbahn::events {

// IORING_TIMEOUT_ETIME_SUCCESS (5.16): an expiry does not fail the chain a timer is linked in.
// Older kernels refuse the flag (EINVAL), so it is set only where the kernel knows it.
inline bool timer_expiry_can_succeed() noexcept {
    static const bool known = [] {
        ::utsname u{};
        int major = 0, minor = 0;
        if (::uname(&u) != 0 || std::sscanf(u.release, "%d.%d", &major, &minor) != 2) return false;
        return major > 5 || (major == 5 && minor >= 16);
    }();
    return known;
}

inline ::__kernel_timespec to_timespec(std::chrono::nanoseconds d) noexcept {
    return {.tv_sec = d.count() / 1'000'000'000, .tv_nsec = d.count() % 1'000'000'000};
}

// Relative to now (CLOCK_MONOTONIC). One rule for time running out, here and in with_timeout:
// for a timer it is success, for an op bounded by a deadline it is the error timed_out.
// So a Timeout that fires completes with the value Timeout::expired; with `count` > 0 it also
// ends, with Timeout::count_reached, once that many other CQEs were posted; removed or
// cancelled, it fails with operation_canceled. `handle` names it for TimeoutRemove /
// TimeoutUpdate while it runs.
export struct Timeout {
    explicit Timeout(std::chrono::nanoseconds after, std::uint32_t count = 0)
        : count(count), when(std::make_unique<::__kernel_timespec>(to_timespec(after))) {}

    static constexpr std::uint32_t expired = 0;
    static constexpr std::uint32_t count_reached = 1;

    std::uint32_t count;
    std::unique_ptr<::__kernel_timespec> when; // heap: read by the kernel, maybe after a move
    OpHandle handle{};

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        if (!when) [[unlikely]] // moved from
            return detail::prep_error(sqes[0], EINVAL);
        detail::prep_rw(sqes[0], IORING_OP_TIMEOUT, -1, when.get(), 1, count);
        if (timer_expiry_can_succeed()) sqes[0].timeout_flags = IORING_TIMEOUT_ETIME_SUCCESS;
    }
    inline void granted(std::uint64_t user_data) noexcept { handle.set(user_data); }
    [[nodiscard]] inline Result<std::uint32_t> finish(std::int32_t res, std::uint32_t) noexcept {
        handle.clear();
        if (res == -ETIME) return expired;
        return res >= 0 ? Result<std::uint32_t>(count_reached) : cqe_result(res);
    }
    [[nodiscard]] inline Cancellation cancel() && noexcept {
        return Cancellation{[h = handle, w = std::move(when)](std::int32_t, std::uint32_t) noexcept {
            h.clear();
        }};
    }
};
static_assert(Event<Timeout>);

// Cancels the timer `target` names: it ends with ECANCELED; the value here is 0, or ENOENT
// when it is not running.
export struct TimeoutRemove {
    OpHandle target;

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        detail::prep_rw(sqes[0], IORING_OP_TIMEOUT_REMOVE, -1, nullptr, 0, 0);
        sqes[0].addr = target.target();
    }
    [[nodiscard]] inline Cancellation cancel() && noexcept { return {}; }
};
static_assert(Event<TimeoutRemove>);

// Re-arms the running timer `target` names to expire `after` from now (IORING_TIMEOUT_UPDATE).
export struct TimeoutUpdate {
    TimeoutUpdate(OpHandle target, std::chrono::nanoseconds after)
        : target(std::move(target)), when(std::make_unique<::__kernel_timespec>(to_timespec(after))) {}
    OpHandle target;
    std::unique_ptr<::__kernel_timespec> when;

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        if (!when) [[unlikely]] // moved from
            return detail::prep_error(sqes[0], EINVAL);
        detail::prep_rw(sqes[0], IORING_OP_TIMEOUT_REMOVE, -1, nullptr, 0,
                        reinterpret_cast<std::uintptr_t>(when.get()));
        sqes[0].addr = target.target();
        sqes[0].timeout_flags = IORING_TIMEOUT_UPDATE;
    }
    [[nodiscard]] inline Cancellation cancel() && noexcept { return hold_until_cqe(std::move(when)); }
};
static_assert(Event<TimeoutUpdate>);

} // namespace ringbahn::events
