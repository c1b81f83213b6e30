// SPDX-License-Identifier: MIT
// ringbahn:events.link — linked ops: a chain of events run in order (IOSQE_IO_LINK), and a
// deadline on any event (IORING_OP_LINK_TIMEOUT).
module;
#include <liburing.h>
#include <cerrno>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory>
#include <span>
#include <system_error>
#include <tuple>
#include <utility>
export module ringbahn:events.link;
import :protocol.cancellation;
import :protocol.completion;
import :detail.sqe;
import :protocol.error;
import :protocol.event;
import :events.timeout;
import :protocol.op_handle;

namespace ringbahn::events {

// Tells a targetable event (op_handle.cppm) the user_data of its first SQE; others ignore it.
template <class E>
inline void forward_granted(E& e, std::uint64_t user_data) noexcept {
    if constexpr (Targetable<E>) e.granted(user_data);
}

// Runs the events' own Cancellations with each one's CQE, once the link's last CQE is in: an
// accept in a cancelled link still closes the fd it got.
template <std::size_t N>
Cancellation cancel_each(std::array<Cancellation, N> parts, std::array<std::uint32_t, N> last_sqe,
                         std::unique_ptr<Cqe[]> results) {
    return Cancellation{[parts = std::make_unique<std::array<Cancellation, N>>(std::move(parts)),
                         last_sqe, results = std::move(results)](std::int32_t, std::uint32_t) noexcept {
        for (std::size_t i = 0; i < N; ++i)
            std::move((*parts)[i]).run(results[last_sqe[i]].res, results[last_sqe[i]].flags);
    }};
}

// link(a, b, ...): a's SQEs, then b's, ... each started only once the one before succeeded; a
// failure (or short read/write) ends the chain, and the rest complete with ECANCELED. The link's
// value is the number of events; its error the first event's error. Each event's own result:
// result<I>() (computed once, when the link completes; reading it again gives the same value);
// the events (with their buffers): std::get<I>(events). Cancelling a link (its awaiter destroyed,
// a lost when_any) cancels whichever SQE of the chain runs at the time, and every buffer is
// held until its own SQE's CQE.
// At most 16 events (a chain of more is a compile-time error); a chain whose SQEs do not fit
// the driver's ring fails with EINVAL.
// An event that records its own SQEs' results (a Link, a WithTimeout, fixed() of one) cannot be
// nested in another: the driver writes each CQE to the outermost event's table only, so the
// inner one would read results nobody wrote. Rejected at compile time.
// An event with its own output (an fd-making op: accept, openat, socket) is not linked either:
// a link's results are bare values, and an fd must come back owned. with_timeout keeps it.
template <class E>
concept Nestable = SingleShot<E> && !RecordsSqeResults<E>;
template <class E>
concept Linkable = Nestable<E> && !HasOutput<E>;

export template <Linkable... Es>
struct Link {
    static constexpr std::size_t size = sizeof...(Es);
    static_assert(size >= 1 && size <= 16, "a link carries 1 to 16 events (io_uring chains them "
                                           "in one submission; split longer chains)");

    explicit Link(Es... es)
        : events(std::move(es)...), results(std::make_unique<Cqe[]>(total_sqes())) {
        for (std::uint32_t i = 0; i < total_sqes(); ++i) results[i] = {-ECANCELED, 0};
    }

    std::tuple<Es...> events;
    std::unique_ptr<Cqe[]> results; // one per SQE, written by the driver

    // Event I's result, as finish() produced it (operation_canceled before the link completed).
    template <std::size_t I>
    [[nodiscard]] Result<std::uint32_t> result() const noexcept {
        return finished[I];
    }

    [[nodiscard]] inline std::uint32_t total_sqes() const noexcept {
        return std::apply([](const auto&... e) { return (e.sqes_needed() + ... + 0u); }, events);
    }
    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return total_sqes(); }
    [[nodiscard]] inline Cqe* sqe_results() noexcept { return results.get(); }
    inline void prepare(const PrepareKey& key, std::span<::io_uring_sqe> sqes) noexcept {
        if (!results) [[unlikely]] { // a link moved from: its events are empty too
            for (auto& sqe : sqes) detail::prep_error(sqe, EINVAL);
            return;
        }
        std::size_t at = 0;
        std::apply([&](auto&... e) {
            ((e.prepare(key, sqes.subspan(at, e.sqes_needed())), at += e.sqes_needed()), ...);
        }, events);
        for (std::size_t i = 0; i + 1 < sqes.size(); ++i) sqes[i].flags |= IOSQE_IO_LINK;
    }
    // A targetable event in the chain (a Timeout, a PollAdd) is named by its own SQE.
    inline void granted(std::uint64_t user_data) noexcept {
        std::uint32_t first = 0;
        std::apply([&](auto&... e) {
            ((forward_granted(e, user_data | (std::uint64_t{first} << 1)), first += e.sqes_needed()), ...);
        }, events);
    }
    [[nodiscard]] inline Result<std::uint32_t> finish(std::int32_t res, std::uint32_t) noexcept {
        if (!results) [[unlikely]]
            return cqe_result(res); // moved from: prepare made every SQE fail with EINVAL
        const auto last = last_sqes();
        Result<std::uint32_t> out = static_cast<std::uint32_t>(size);
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            ((finished[I] = finish_result(std::get<I>(events), results[last[I]].res, results[last[I]].flags)), ...);
            ((out && !finished[I] ? void(out = std::unexpected(finished[I].error())) : void()), ...);
        }(std::index_sequence_for<Es...>{});
        return out;
    }
    [[nodiscard]] inline Cancellation cancel() && noexcept {
        const auto last = last_sqes();
        auto parts = std::apply([](auto&... e) {
            return std::array<Cancellation, size>{std::move(e).cancel()...};
        }, events);
        return cancel_each<size>(std::move(parts), last, std::move(results));
    }

  private:
    std::array<Result<std::uint32_t>, size> finished = filled_with_cancelled();
    static std::array<Result<std::uint32_t>, size> filled_with_cancelled() noexcept {
        std::array<Result<std::uint32_t>, size> a;
        a.fill(std::unexpected(std::make_error_code(std::errc::operation_canceled)));
        return a;
    }
    std::array<std::uint32_t, size> last_sqes() const noexcept {
        std::array<std::uint32_t, size> last{};
        std::uint32_t at = 0, i = 0;
        std::apply([&](const auto&... e) { ((at += e.sqes_needed(), last[i++] = at - 1), ...); }, events);
        return last;
    }
};

export template <Linkable... Es>
[[nodiscard]] inline Link<Es...> link(Es... es) {
    return Link<Es...>(std::move(es)...);
}

// with_timeout(event, 100ms): the event, linked to a LINK_TIMEOUT. If the time runs out first,
// the op is cancelled and the result is std::errc::timed_out; otherwise the event's own result.
// The timer's CQE is one of the op's: the awaiter resumes (and a cancellation frees the
// buffers) only after both are in.
// A LINK_TIMEOUT bounds only the SQE just before it, so it cannot bound a chain: with_timeout of
// a link (or of another with_timeout) is rejected at compile time (Nestable). To bound a whole chain, race it against a timer —
// when_any(submit(d, link(a, b)), submit(d, Timeout{after})), which cancels whichever SQE of
// the chain is running when the timer wins.
export template <Nestable E>
struct WithTimeout {
    WithTimeout(E e, std::chrono::nanoseconds after)
        : event(std::move(e)), when(std::make_unique<::__kernel_timespec>(to_timespec(after))),
          results(std::make_unique<Cqe[]>(event.sqes_needed() + 1)) {}

    E event;
    std::unique_ptr<::__kernel_timespec> when;
    std::unique_ptr<Cqe[]> results;

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return event.sqes_needed() + 1; }
    [[nodiscard]] inline Cqe* sqe_results() noexcept { return results.get(); }
    inline void prepare(const PrepareKey& key, std::span<::io_uring_sqe> sqes) noexcept {
        if (!when || !results) [[unlikely]] { // moved from
            for (auto& sqe : sqes) detail::prep_error(sqe, EINVAL);
            return;
        }
        const std::uint32_t n = event.sqes_needed();
        event.prepare(key, sqes.first(n));
        for (std::uint32_t i = 0; i < n; ++i) sqes[i].flags |= IOSQE_IO_LINK;
        detail::prep_rw(sqes[n], IORING_OP_LINK_TIMEOUT, -1, when.get(), 1, 0);
    }
    inline void granted(std::uint64_t user_data) noexcept { forward_granted(event, user_data); }
    [[nodiscard]] inline Result<std::uint32_t> finish(std::int32_t res, std::uint32_t) noexcept {
        if (!results) [[unlikely]]
            return cqe_result(res); // moved from: prepare made every SQE fail with EINVAL
        const Cqe op = results[event.sqes_needed() - 1];
        const Cqe timer = results[event.sqes_needed()];
        // The event's own finish runs either way, once: it may hold something to clear or
        // take (a timer's OpHandle, a provided buffer the CQE names).
        Result<std::uint32_t> own = finish_result(event, op.res, op.flags);
        if (op.res == -ECANCELED && timer.res == -ETIME)
            return std::unexpected(std::make_error_code(std::errc::timed_out));
        // The timer itself refused (a negative duration is EINVAL): the kernel failed the
        // link before the op ran, cancelling it; the timer's error is the one that says why.
        if (op.res == -ECANCELED && timer.res < 0 && timer.res != -ECANCELED) return cqe_result(timer.res);
        return own;
    }
    // The event's own output, if it has one (with_timeout(Accept{...}) gives an owned fd).
    [[nodiscard]] inline auto output(Result<std::uint32_t> r) && noexcept
        requires HasOutput<E>
    {
        return std::move(event).output(std::move(r));
    }
    [[nodiscard]] inline Cancellation cancel() && noexcept {
        const std::uint32_t last = event.sqes_needed() - 1;
        return Cancellation{[inner = std::make_unique<Cancellation>(std::move(event).cancel()),
                             when = std::move(when), results = std::move(results),
                             last](std::int32_t, std::uint32_t) noexcept {
            std::move(*inner).run(results[last].res, results[last].flags);
        }};
    }
};

export template <Nestable E>
[[nodiscard]] inline WithTimeout<E> with_timeout(E event, std::chrono::nanoseconds after) {
    return WithTimeout<E>(std::move(event), after);
}

} // namespace ringbahn::events
