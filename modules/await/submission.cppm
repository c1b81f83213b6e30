// SPDX-License-Identifier: MIT
// ringbahn:await.submission — the awaitable that ties one Event to one driver.
module;
#include <liburing.h>
#include <atomic>
#include <cerrno>
#include <coroutine>
#include <exception>
#include <expected>
#include <cstdint>
#include <optional>
#include <span>
#include <system_error>
#include <utility>
export module ringbahn:await.submission;
import :protocol.cancellation;
import :protocol.completion;
import :drive.drive;
import :protocol.error;
import :protocol.event;
import :protocol.op_handle;
import :detail.await_once;
import :detail.slot;
import :detail.sqe;
import :protocol.slot_request;
import :await.operation;
import :await.stop_scope;

namespace ringbahn {

// One op on one driver: an Operation (await/operation.cppm: the handshake with the driver,
// and what happens to the op when it is left) with one Event.
//   await_suspend  a Completion is made; the SQE taken at once where the driver allows
//                  (DirectSqe), else the driver asked for it (maybe granted on its thread).
//   await_resume   the Completion resumed us (on the reaping thread): the event's output.
// Destroyed while waiting: withdrawn from the driver, freed at once (the kernel never saw it).
// Destroyed while granted: the event's storage moves into the Completion as a Cancellation and
// an ASYNC_CANCEL goes out now; the storage is freed after the op's last CQE.
// Asked to stop (its coroutine chain's StopScope, e.g. a when_any loser): cancelled in place —
// an ASYNC_CANCEL while it stays suspended, then resumed as usual with what the kernel says
// (ECANCELED, or the result it got first). Asked before it reached the kernel: it never does,
// and completes with ECANCELED.
// An op the driver can never serve (more SQEs than its ring has) completes at once with EINVAL.
export template <class E, class D>
class [[nodiscard]] Submission : private detail::Operation<D> {
    using Op = detail::Operation<D>;
    using typename Op::Phase;
    using Op::completion_;
    using Op::driver_;
    using Op::phase_;

    static_assert(Event<E> && Drive<D>);
    // A multishot event posts many CQEs, each producing something (an fd, a buffer): only a
    // MultishotStream takes them all. Submitted as one op, all but the last would be dropped.
    static_assert(!Multishot<E>, "multishot events go through a MultishotStream "
                                                   "(accept_stream, recv_stream, poll_stream)");

  public:
    Submission(D& driver, E event) : Op(driver), event_(std::in_place, std::move(event)) {}
    // The event built in place from `args` (a hot caller saves moving its buffers through
    // by-value parameters).
    template <class... Args>
    [[gnu::always_inline, gnu::flatten]] inline Submission(D& driver, std::in_place_t, Args&&... args)
        : Op(driver), event_(std::in_place, std::forward<Args>(args)...) {}
    // Movable until awaited (combinators take awaitables by value); never after. The one moved
    // from is spent, as an awaited one is: awaiting it gives EINVAL (detail::AwaitOnce).
    // Moved while in flight (through a pointer, from elsewhere): the new one is spent and
    // empty, and the op stays where it runs.
    Submission(Submission&& other) noexcept
        : Op(other.spent() ? nullptr : std::exchange(other.driver_, nullptr)),
          event_() {
        if (other.completion_ == nullptr && other.event_) event_.emplace(std::move(*other.event_));
    }
    Submission(const Submission&) = delete;
    Submission& operator=(const Submission&) = delete;

    [[gnu::always_inline, gnu::flatten]] inline ~Submission() {
        if (completion_ != nullptr) [[unlikely]]
            abandon(); // else never awaited, or finished: nothing to do
    }

    // Awaited once, as an rvalue (detail::AwaitOnce).
    [[nodiscard]] detail::AwaitOnce<Submission> operator co_await() && noexcept { return {*this}; }

  private:
    friend struct detail::AwaitOnce<Submission>;

    // Awaited already or moved from (no driver: its event holds no storage), or in flight.
    [[nodiscard, gnu::always_inline]] inline bool spent() const noexcept {
        return driver_ == nullptr || completion_ != nullptr;
    }
    // What a spent Submission's await gives: the emptied event and EINVAL — or, while the op is
    // in flight (its event is the kernel's) or moved away, spent_value's EINVAL.
    [[gnu::noinline]] OutputOf<E> spent_value() {
        const auto einval = std::unexpected(std::make_error_code(std::errc::invalid_argument));
        if (completion_ == nullptr && event_) return output_of(std::move(*event_), einval);
        return detail::spent_value<OutputOf<E>>();
    }

    // The common case inline, in the awaiting coroutine: one SQE, taken at once from a driver
    // that allows it (DirectSqe), no StopScope on the chain.
    template <class P>
    [[gnu::always_inline]] inline bool suspend(std::coroutine_handle<P> awaiting) {
        const std::uint32_t sqes = event_->sqes_needed();
        completion_ = new Completion(awaiting, sqes);
        if (sqes == 1 && stop_scope_of(awaiting) == nullptr && sqe_direct<false>()) [[likely]]
            return true;
        return suspend_slow(awaiting);
    }
    // One SQE filled straight from the driver's SQ, if it allows that (DirectSqe) and has room.
    // `scoped`: a StopScope may be attached (else there is none: no stop to race with).
    template <bool scoped>
    [[gnu::always_inline]] inline bool sqe_direct() noexcept {
        if constexpr (DirectSqe<D>) {
            if (::io_uring_sqe* sqe = driver_->sqe_now()) [[likely]] {
                if constexpr (scoped) {
                    fill({sqe, 1});
                } else {
                    if constexpr (RecordsSqeResults<E>)
                        completion_->record_sqe_results(event_->sqe_results());
                    hand_to_kernel({sqe, 1});
                    this->mark_granted();
                }
                driver_->sqe_filled(*sqe);
                return true;
            }
        }
        return false;
    }
    // Everything else: a StopScope to attach to, several SQEs, or the driver's queue.
    template <class P>
    [[gnu::noinline]] bool suspend_slow(std::coroutine_handle<P> awaiting) {
        const std::uint32_t sqes = event_->sqes_needed();
        if (StopScope* scope = stop_scope_of(awaiting)) [[unlikely]] {
            if (!scope->attach(this, &Submission::on_stop)) {
                refuse_now(ECANCELED); // stopped before it started: the kernel never sees it
                return false;
            }
            scope_ = scope;
        }
        if (sqes == 1 && sqe_direct<true>()) return true;
        // From here the op may complete and resume `awaiting` on another thread before
        // request returns, destroying this awaiter: touch no member afterwards, unless refused
        // (the driver can never serve it; nobody else has it).
        if (const int err = Op::request(sqes, &Submission::on_grant)) [[unlikely]] {
            refuse_now(err);
            return false;
        }
        return true;
    }

    // The event's output (event.cppm): its result, then what the awaiter owns. Spent from
    // here on.
    [[gnu::always_inline]] inline OutputOf<E> resume() noexcept {
        if (scope_) [[unlikely]]
            std::exchange(scope_, nullptr)->detach(); // before the state can go (consume)
        Completion* c = std::exchange(completion_, nullptr);
        driver_ = nullptr;
        Result<std::uint32_t> result = finish_result(*event_, c->result(), c->flags());
        c->consume();
        return output_of(std::move(*event_), std::move(result));
    }

    static void on_grant(SlotRequest& request, std::span<::io_uring_sqe> sqes) noexcept {
        auto& self = static_cast<Submission&>(request);
        if (self.slots_given(sqes)) self.fill(sqes);
    }

    // Writes the granted SQEs: the event's, or — stopped meanwhile — ones that fail with
    // ECANCELED.
    inline void fill(std::span<::io_uring_sqe> sqes) noexcept {
        if constexpr (RecordsSqeResults<E>) completion_->record_sqe_results(event_->sqe_results());
        if (scope_) [[unlikely]] {
            fill_under_scope(sqes);
            return;
        }
        hand_to_kernel(sqes);
        this->mark_granted(); // leave()'s acquire
    }

    // Only a StopScope's on_stop races with fill (no scope, no stop), from another thread. Under
    // the scope's lock, which on_stop runs under: either the stop came first and this sees it,
    // or on_stop comes after and sees `granted` and cancels — never neither. (Atomics alone were
    // not enough: this loaded `stop_` before storing `granted`, on_stop stored `stop_` before
    // loading the phase, and both could miss the other: the op ran on, never cancelled.)
    [[gnu::noinline]] void fill_under_scope(std::span<::io_uring_sqe> sqes) noexcept {
        scope_->locked([&]() noexcept {
            if (stop_.load(std::memory_order_relaxed)) {
                // Stopped while it waited for SQEs: each SQE completes with ECANCELED, and the
                // event's storage is never handed to the kernel.
                for (std::uint32_t i = 0; i < sqes.size(); ++i) {
                    detail::prep_error(sqes[i], ECANCELED);
                    sqes[i].user_data = completion_->sqe_user_data(i);
                }
            } else {
                hand_to_kernel(sqes);
            }
            this->mark_granted();
        });
    }

    // The event prepares its SQEs: from here the kernel owns its storage.
    [[gnu::always_inline]] inline void hand_to_kernel(std::span<::io_uring_sqe> sqes) noexcept {
        const Completion& c = *completion_;
        event_->prepare(detail::PrepareKeyMaker::make(driver_->liveness().id()), sqes);
        if (sqes.size() == 1) [[likely]]
            sqes[0].user_data = c.op_user_data();
        else
            for (std::uint32_t i = 0; i < sqes.size(); ++i) sqes[i].user_data = c.sqe_user_data(i);
        if constexpr (Targetable<E>) event_->granted(c.op_user_data());
    }

    // The StopScope's request (any thread, under the scope's lock, while we are attached).
    static void on_stop(void* leaf) noexcept {
        auto& self = *static_cast<Submission*>(leaf);
        self.stop_.store(true, std::memory_order_relaxed);
        if (self.phase_.load(std::memory_order_acquire) != Phase::granted) return; // fill sees it
        self.completion_->request_cancel();
        self.driver_->cancel(*self.completion_);
    }

    // Destroyed while awaited: withdrawn, or — in the kernel, which keeps the storage until the
    // op's last CQE — cancelled with the storage handed over.
    [[gnu::noinline]] void abandon() noexcept {
        if (scope_) scope_->detach(); // no stop request reaches us from here on
        this->leave([this](Completion& c) noexcept { return c.abandon(std::move(*event_).cancel()); });
    }

    // Completes the op here and now with -err; it never reaches the kernel.
    void refuse_now(int err) noexcept {
        if constexpr (RecordsSqeResults<E>) completion_->record_sqe_results(event_->sqe_results());
        completion_->refuse(err);
    }

    detail::Slot<E> event_; // empty only in one moved while in flight
    StopScope* scope_ = nullptr; // attached while suspended, if our chain has one
    std::atomic<bool> stop_{false};
};

// `co_await submit(driver, Event{...})`: the only way an event reaches the kernel.
export template <Event E, Drive D>
[[nodiscard]] inline Submission<E, D> submit(D& driver, E event) {
    return Submission<E, D>(driver, std::move(event));
}

// A driver that derives from Submitter has the member spelling, `co_await d.submit(Event{...})`
// (the library's drivers do; a custom one may). The Submission names the driver's own type.
export struct Submitter {
    template <Event E, class Self>
    [[nodiscard]] inline Submission<E, Self> submit(this Self& self, E event) {
        return Submission<E, Self>(self, std::move(event));
    }
};

} // namespace ringbahn
