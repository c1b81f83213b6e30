// SPDX-License-Identifier: MIT
// ringbahn:protocol.completion — the completion state machine shared by an in-flight op and its awaiter.
module;
#include <liburing.h>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cassert>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <utility>
#include <vector>
export module ringbahn:protocol.completion;
import :protocol.cancellation;
import :detail.recycler;
import :detail.spin_lock;

namespace ringbahn {

// The state every in-flight op shares with its awaiter. The SQE's user_data points here (never
// into an awaiter or coroutine frame), so it lives on the heap until both sides are done with it.
//
// Two sides touch it:
//   A — the awaiter (Submission), on whatever thread owns the coroutine frame;
//   K — the driver's reaper, on the thread that reaps CQEs (the demo driver's own thread).
//
// | state      | meaning                                   | who frees the state             |
// |------------|-------------------------------------------|---------------------------------|
// | submitted  | kernel owns the op; awaiter suspended     | nobody yet                      |
// | completed  | last CQE in; K resumed the awaiter        | A, in await_resume (`consume`)  |
// | cancelled  | awaiter gone; storage in `cancellation_`  | K, after the op's last CQE *and* |
// |            |                                           | the cancel SQE's CQE (refs_ → 0)|
// | orphaned   | last CQE in during driver teardown;       | A, when the frame is destroyed  |
// |            | nobody resumed (the driver is gone)       | (`abandon`)                     |
// | (submitted, never granted SQEs)                        | A, `discard`                    |
//
// Transitions (each is one function below):
//   submitted → completed   K  `on_op_cqe`, last CQE, driver running: resumes the awaiter.
//   submitted → orphaned    K  `on_op_cqe`, last CQE, driver tearing down: resumes nobody.
//   submitted → cancelled   A  `abandon`: the caller must then have the driver send a cancel SQE.
//   cancelled → freed       K  `on_op_cqe` / `on_cancel_cqe`, whichever drops refs_ to 0:
//                              runs the Cancellation with the op's CQE, then deletes the state.
//   orphaned  → freed       A  `abandon`: runs the Cancellation with the stored CQE at once.
//   completed → freed       A  `consume`.
// A and K race only on submitted → {completed, orphaned, cancelled}: one compare-exchange
// decides, and the loser does not touch what the winner now owns. The awaiter's frame must not
// be destroyed while K resumes it (that is a running coroutine), so `abandon` never sees
// `completed`.
//
// Multishot ops (an accept or recv that posts a CQE per connection or chunk) use the same
// states, with an Inbox: while `submitted`, K appends every CQE to it and resumes the stream's
// waiting coroutine, if any; the final CQE (no F_MORE) also moves the state to completed or
// orphaned — and then the stream, not K, frees the state once it has taken the last CQE.
// `close_stream` is the multishot `abandon`: under the inbox lock it moves submitted →
// cancelled, after which K hands every further CQE to the Cancellation (`each`: close the fd,
// return the buffer) and frees the state as above; or, if the op had ended, frees it at once.
//
// Linked ops (n SQEs) may ask for each SQE's result: the SQE's index rides in bits 1–5 of its
// user_data (states are 64-byte aligned), and K writes the CQE's res to sqe_results[index].
//
// Cancelling a link: a cancel SQE names one SQE, and once a chain's first SQE has finished a
// cancel aimed at it finds nothing (ENOENT) while the next one runs on. So a cancel is always
// aimed at the chain's first SQE whose CQE is not in yet (`first_pending_sqe`), and K follows
// up (`dispatch` returns the SQE index the driver must aim a new cancel at):
//   * a cancel CQE for a link still running: aim again if the target moved on (its SQE
//     finished meanwhile) or was not found (not issued yet: it starts when its predecessor's
//     completion runs, maybe after our cancel); found or EALREADY: its own CQE follows up;
//   * an SQE of a cancelled chain finished and the rest goes on, with no cancel out: aim at
//     the next one.
// Each follow-up takes a reference first, as the first cancel does, so the state outlives
// every cancel SQE naming it. Retries are capped (max_cancel_retries); driver teardown's
// cancel-any backs them up.
//
// Cancelling in place (when_any's losers, through a StopScope): `request_cancel` sends a cancel
// while the awaiter stays alive and suspended; the op then ends as usual (completed, resumes the
// awaiter) with ECANCELED or whatever it got first. The cancel's CQE may come after `consume`:
// the reference it holds makes whichever of the two comes last free the state.
//
// "Last CQE": an op of n SQEs posts n final CQEs (flag IORING_CQE_F_MORE unset); a zero-copy send
// posts its result with F_MORE and a final notification (F_NOTIF). The kernel owns the op's
// storage until the last of them. The cancel SQE has a CQE of its own, and user_data must not be
// reused until it is in (a new op at the same address would be cancelled): refs_ counts it.
export enum class State : std::uint8_t { submitted, completed, cancelled, orphaned };

// One CQE: as a multishot stream sees it, or one SQE's of a link.
export struct Cqe {
    std::int32_t res;
    std::uint32_t flags;
    [[nodiscard]] inline bool more() const noexcept { return flags & IORING_CQE_F_MORE; }
};

// The CQEs of a multishot op that its stream has not taken yet, and the stream's coroutine
// when it waits for one. A and K both touch it: a spinlock, held for a push or a pop.
class Inbox : public detail::SpinLock {
  public:
    std::vector<Cqe> items;
    std::size_t head = 0; // items before head are taken
    std::coroutine_handle<> waiter;
};

export class Completion {
  public:
    // Low bit of user_data: 0 for the op's own SQEs, 1 for the cancel SQE aimed at it.
    static constexpr std::uint64_t cancel_tag = 1;
    static constexpr std::uint64_t tag_mask = 63; // cancel bit + SQE index (bits 1–5)
    static constexpr std::uint32_t max_indexed_sqes = 32;
    // What dispatch() returns when the driver has no cancel to send.
    static constexpr int no_cancel = -1;
    static constexpr std::uint8_t max_cancel_retries = 64;

    inline Completion(std::coroutine_handle<> continuation, std::uint32_t sqes) noexcept
        : sqes_left_(sqes), sqes_total_(static_cast<std::uint8_t>(sqes)),
          continuation_(continuation) {}
    Completion(const Completion&) = delete;
    Completion& operator=(const Completion&) = delete;

    // From the per-thread free list: no malloc per op in steady state. A state is back on a
    // list only once both of its CQEs (the op's, the cancel's) are in, so a cancel SQE never
    // names a recycled state (DESIGN.md §3).
    inline static void* operator new(std::size_t size) { return detail::Recycler::allocate(size); }
    inline static void operator delete(void* p, std::size_t size) noexcept {
        detail::Recycler::deallocate(p, size);
    }

    [[nodiscard]] inline std::uint64_t op_user_data() const noexcept {
        return reinterpret_cast<std::uintptr_t>(this);
    }
    // The user_data of the op's SQE number `index` (0 for single-SQE ops).
    [[nodiscard]] inline std::uint64_t sqe_user_data(std::uint32_t index) const noexcept {
        return op_user_data() | (std::uint64_t{index} << 1);
    }
    // The user_data of a cancel SQE aimed at SQE `index`.
    [[nodiscard]] inline std::uint64_t cancel_user_data(std::uint32_t index) const noexcept {
        return sqe_user_data(index) | cancel_tag;
    }
    // The SQE a cancel should name now: the first whose final CQE is not in (a chain runs in
    // order). May be stale when read off the reaping thread; K follows up (see above).
    [[nodiscard]] inline std::uint32_t first_pending_sqe() const noexcept {
        if (sqes_total_ == 1) return 0;
        const std::uint32_t done = done_.load(std::memory_order_relaxed);
        const std::uint32_t i = static_cast<std::uint32_t>(std::countr_one(done));
        return i < sqes_total_ ? i : sqes_total_ - 1u;
    }

    // Before the op is granted: K writes SQE i's CQE to results[i] (linked ops).
    inline void record_sqe_results(Cqe* results) noexcept {
        sqe_results_ = results;
        plain_.store(false, std::memory_order_relaxed);
    }

    // Before the op is granted: make it a multishot op whose CQEs go to an inbox.
    inline void make_stream() {
        inbox_ = new Inbox();
        plain_.store(false, std::memory_order_relaxed);
    }

    // The driver's CQE dispatch: routes one CQE of ours (user_data != 0) to its state.
    // K side. May resume a coroutine inline, or run a Cancellation and free the state.
    // `exclusive`: the driver reaps on the only thread that ever touches its completions
    // (LocalDriver), so A and K cannot race and the exchange needs no locked instruction.
    // Returns no_cancel, or the index of an SQE of this state that the driver must now aim a
    // cancel at (user_data cancel_user_data(index)); the reference for it is taken already.
    [[nodiscard]] static inline int dispatch(std::uint64_t user_data, std::int32_t res,
                                             std::uint32_t flags, bool tearing_down,
                                             bool exclusive = false) noexcept {
        auto* self = reinterpret_cast<Completion*>(user_data & ~tag_mask);
        // Most CQEs: the only CQE of a one-SQE op — no index, stream, link or notification.
        if ((user_data & tag_mask) == 0 && self->plain_.load(std::memory_order_relaxed) &&
            !(flags & (IORING_CQE_F_MORE | IORING_CQE_F_NOTIF))) [[likely]] {
            self->res_ = res;
            self->flags_ = flags;
            self->settle(tearing_down, exclusive);
            return no_cancel;
        }
        const auto index = static_cast<std::uint32_t>(user_data >> 1) & 31;
        if (user_data & cancel_tag) return self->on_cancel_cqe(index, res, tearing_down);
        if (self->inbox_) [[unlikely]] {
            self->on_stream_cqe(res, flags, tearing_down);
            return no_cancel;
        }
        return self->on_op_cqe(index, res, flags, tearing_down, exclusive);
    }

    // The exclusive driver's fast path (LocalDriver, driver running): the only CQE of a plain op
    // completes it and resumes its awaiter, with plain loads and stores (A and K are one
    // thread). `user_data` is an op's own (no tag bits: the caller tested them). Returns false,
    // touching nothing, for any other CQE: dispatch() takes it. `plain_` is still set only while
    // the op is plain and submitted (abandon clears it): one test for both.
    [[nodiscard, gnu::always_inline]] static inline bool complete_exclusive(
        std::uint64_t user_data, std::int32_t res, std::uint32_t flags) noexcept {
        auto* self = reinterpret_cast<Completion*>(user_data);
        if (!self->plain_.load(std::memory_order_relaxed) ||
            (flags & (IORING_CQE_F_MORE | IORING_CQE_F_NOTIF))) [[unlikely]]
            return false;
        self->res_ = res;
        self->flags_ = flags;
        self->state_.store(State::completed, std::memory_order_relaxed);
        self->continuation_.resume(); // hands the state to the awaiter: touch nothing after
        return true;
    }

    // --- A side: the awaiter ---------------------------------------------------------------

    [[nodiscard]] inline std::int32_t result() const noexcept { return res_; }
    [[nodiscard]] inline std::uint32_t flags() const noexcept { return flags_; }

    // completed → freed. Called by the awaiter once resumed, after reading result()/flags().
    // A cancel requested in place may still be out: then its CQE frees the state.
    inline void consume() noexcept {
        assert(state_.load(std::memory_order_relaxed) == State::completed);
        if (refs_.load(std::memory_order_acquire) == 1) [[likely]] {
            // Nothing else refers to it, and it owns nothing: a completed op was never
            // abandoned (no Cancellation) and is no stream (no Inbox). The storage goes back
            // without the destructor, which would find nothing to free ([basic.life]/5).
            assert(!inbox_ && !cancellation_);
            Completion::operator delete(this, sizeof(Completion));
            return;
        }
        if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
    }

    // The driver refused the op before it reached the kernel (it needs more SQEs than the ring
    // has): it completes at once with -err, on the awaiter's thread, and nobody else sees it.
    inline void refuse(int err) noexcept {
        res_ = -err;
        if (sqe_results_)
            for (std::uint32_t i = 0; i < sqes_total_; ++i) sqe_results_[i] = {-err, 0};
        state_.store(State::completed, std::memory_order_relaxed);
    }

    // Cancel in place: the awaiter stays suspended and is resumed as usual when the op ends.
    // The caller must have the driver send a cancel for this state now. Called with the op
    // granted and not yet consumed (the StopScope's lock orders it before consume()).
    inline void request_cancel() noexcept {
        stop_requested_.store(true, std::memory_order_release); // pairs with K's follow_up
        refs_.fetch_add(1, std::memory_order_acq_rel);          // the cancel SQE's CQE
    }

    // The driver could not send the cancel request_cancel counted (asked from a thread that may
    // not touch its ring): drop the reference the cancel's CQE would have. The op runs on.
    inline void cancel_not_sent() noexcept { release(); }

    // Never submitted (withdrawn while waiting for SQEs, or its driver went away first): the
    // kernel never saw this state, so it goes at once.
    inline void discard() noexcept { delete this; }

    // The awaiter is destroyed while its op is with the kernel; `storage` is what the kernel
    // borrows. Returns true when the caller must have the driver send a cancel SQE for this
    // state now (exactly one; its CQE comes back through `dispatch`). Returns false when the
    // op had already finished during driver teardown: the Cancellation ran here and the state
    // is gone. Either way, the caller must not touch the state afterwards.
    [[nodiscard]] inline bool abandon(Cancellation storage) noexcept {
        cancellation_ = std::move(storage);
        plain_.store(false, std::memory_order_relaxed); // not submitted any more: no fast path
        // Reserve the cancel SQE's CQE before K can see `cancelled`: K must not free the state
        // while that CQE may still name it.
        refs_.fetch_add(1, std::memory_order_release); // release: publishes cancellation_ to K
        State expected = State::submitted;
        if (state_.compare_exchange_strong(expected, State::cancelled, std::memory_order_acq_rel,
                                           std::memory_order_acquire))
            return true;
        // K finished the op while the driver was tearing down; nobody else refers to us.
        if (expected != State::orphaned) std::terminate(); // resumed *and* destroyed: a bug
        std::move(cancellation_).run(res_, flags_);
        delete this;
        return false;
    }

    // --- A side: a multishot stream ------------------------------------------------------

    // The next CQE the kernel posted for the op, if one is waiting; else, when `waiter` is
    // given, it is resumed (by K, inline) as soon as one arrives.
    [[nodiscard]] inline std::optional<Cqe> take(std::coroutine_handle<> waiter = {}) noexcept {
        Inbox& in = *inbox_;
        in.lock();
        std::optional<Cqe> out;
        if (in.head < in.items.size()) {
            out = in.items[in.head++];
            if (in.head == in.items.size()) in.items.clear(), in.head = 0;
        } else {
            in.waiter = waiter;
        }
        in.unlock();
        return out;
    }

    // The stream's waiting coroutine goes away without a CQE (its next() was cancelled, e.g.
    // the loser of a when_any): K must not resume it. The op stays armed. Returns whether it
    // was still registered (false: K has taken it and resumes it, or has).
    inline bool forget_waiter() noexcept {
        Inbox& in = *inbox_;
        in.lock();
        const bool was = static_cast<bool>(in.waiter);
        in.waiter = {};
        in.unlock();
        return was;
    }

    // The stream took the op's final CQE: the kernel is done, free the state.
    inline void finish_stream() noexcept { delete this; }

    // The stream goes away (or re-arms) while the op may still post CQEs. CQEs already in the
    // inbox go to `reclaim` here. Returns true when the caller must have the driver send a
    // cancel SQE now (later CQEs go to `reclaim` on K); false when the op had already ended and
    // the state is gone. Either way, the caller must not touch the state afterwards.
    [[nodiscard]] inline bool close_stream(Cancellation reclaim) noexcept {
        Inbox& in = *inbox_;
        cancellation_ = std::move(reclaim);
        in.lock();
        for (std::size_t i = in.head; i < in.items.size(); ++i)
            cancellation_.each(in.items[i].res, in.items[i].flags);
        in.items.clear();
        in.head = 0;
        in.waiter = {};
        const State now = state_.load(std::memory_order_relaxed);
        const bool live = now == State::submitted;
        if (live) {
            refs_.fetch_add(1, std::memory_order_relaxed); // the cancel SQE's CQE
            state_.store(State::cancelled, std::memory_order_relaxed);
        }
        in.unlock(); // publishes cancellation_ and the state to K
        if (!live) delete this;
        return live;
    }

  private:
    inline ~Completion() { delete inbox_; }

    // --- K side: the reaper ----------------------------------------------------------------

    inline int on_op_cqe(std::uint32_t index, std::int32_t res, std::uint32_t flags,
                         bool tearing_down, bool exclusive) noexcept {
        if (sqe_results_ && !(flags & IORING_CQE_F_NOTIF)) sqe_results_[index] = {res, flags};
        // The result is the first error, else the latest result CQE (notifications carry none).
        if (!(flags & IORING_CQE_F_NOTIF) && (res < 0 || res_ >= 0)) {
            res_ = res;
            flags_ = flags;
        }
        if (flags & IORING_CQE_F_MORE) return no_cancel; // this SQE posts more CQEs
        if (sqes_total_ > 1) [[unlikely]]
            done_.fetch_or(std::uint32_t{1} << index, std::memory_order_relaxed);
        if (--sqes_left_ != 0) return follow_up(tearing_down); // other SQEs are still out
        settle(tearing_down, exclusive);
        return no_cancel;
    }

    // The op's last CQE is in: the kernel is done with it. res_/flags_ are published by the
    // exchange (release).
    inline void settle(bool tearing_down, bool exclusive) noexcept {
        State expected = State::submitted;
        const State next = tearing_down ? State::orphaned : State::completed;
        if (exclusive ? settle_exclusive(expected, next)
                      : state_.compare_exchange_strong(expected, next, std::memory_order_acq_rel,
                                                       std::memory_order_acquire)) {
            // Resuming hands the state to the awaiter, which frees it: touch nothing after.
            if (next == State::completed) continuation_.resume();
            return;
        }
        release(); // cancelled: drop the op's reference
    }

    // A cancel SQE's CQE: follow up on a chain that is still running (see the header).
    inline int on_cancel_cqe(std::uint32_t index, std::int32_t res, bool tearing_down) noexcept {
        int next = no_cancel;
        // One SQE (or a stream): not found means done, and its CQE is on the way.
        if (sqes_total_ > 1 && !inbox_ && sqes_left_ != 0 && !tearing_down && wants_cancel()) {
            const std::uint32_t target = first_pending_sqe();
            if (target != index || res == -ENOENT) next = aim();
        }
        release();
        return next;
    }

    // An SQE of a chain finished and the chain goes on: if it is to be cancelled and no cancel
    // is out (whose CQE would follow up), aim one at the SQE now running.
    inline int follow_up(bool tearing_down) noexcept {
        if (tearing_down || !wants_cancel()) return no_cancel;
        if (refs_.load(std::memory_order_acquire) != 1) return no_cancel;
        return aim();
    }
    [[nodiscard]] inline bool wants_cancel() const noexcept {
        return state_.load(std::memory_order_acquire) == State::cancelled ||
               stop_requested_.load(std::memory_order_acquire);
    }
    inline int aim() noexcept {
        if (cancel_retries_ == max_cancel_retries) return no_cancel;
        ++cancel_retries_;
        refs_.fetch_add(1, std::memory_order_relaxed); // K's own: released by that cancel's CQE
        return static_cast<int>(first_pending_sqe());
    }

    // A multishot op's CQE. The state is read under the inbox lock, which close_stream holds
    // to change it: once cancelled, the inbox is the stream's no more.
    inline void on_stream_cqe(std::int32_t res, std::uint32_t flags, bool tearing_down) noexcept {
        const bool last = !(flags & IORING_CQE_F_MORE);
        Inbox& in = *inbox_;
        in.lock();
        if (state_.load(std::memory_order_relaxed) == State::cancelled) {
            in.unlock();
            if (!last) {
                cancellation_.each(res, flags);
                return;
            }
            res_ = res;
            flags_ = flags;
            release();
            return;
        }
        in.items.push_back({res, flags});
        if (last) state_.store(tearing_down ? State::orphaned : State::completed,
                               std::memory_order_relaxed);
        const std::coroutine_handle<> waiter = tearing_down ? nullptr : std::exchange(in.waiter, {});
        in.unlock(); // from here the stream may free the state
        if (waiter) waiter.resume();
    }

    // The compare-exchange, for a single-threaded driver: same result, plain load and store.
    inline bool settle_exclusive(State& expected, State next) noexcept {
        const State now = state_.load(std::memory_order_relaxed);
        if (now != expected) {
            expected = now;
            return false;
        }
        state_.store(next, std::memory_order_relaxed);
        return true;
    }

    // cancelled → freed, by whichever of the op's last CQE and the cancel CQE comes second.
    inline void release() noexcept {
        if (refs_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
        std::move(cancellation_).run(res_, flags_);
        delete this;
    }

    std::atomic<State> state_{State::submitted};
    std::atomic<std::uint32_t> refs_{1}; // the op itself, + 1 for a cancel SQE once abandoned
    std::uint32_t sqes_left_;            // K only
    std::uint8_t sqes_total_;
    std::uint8_t cancel_retries_ = 0;    // K only
    // One SQE, no stream, no per-SQE results, not abandoned: the fast dispatch. Atomic only
    // because abandon clears it while a threaded reaper may read it (either value is safe there:
    // settle's exchange decides).
    std::atomic<bool> plain_{sqes_total_ == 1};
    std::atomic<bool> stop_requested_{false};
    std::atomic<std::uint32_t> done_{0}; // links: SQEs whose final CQE is in (written by K)
    std::int32_t res_ = 0;               // written by K before its exchange
    std::uint32_t flags_ = 0;
    std::coroutine_handle<> continuation_;
    Cqe* sqe_results_ = nullptr; // linked ops that asked for each SQE's result
    Inbox* inbox_ = nullptr;              // multishot ops only; owned
    Cancellation cancellation_; // written by A before its exchange
};

} // namespace ringbahn
