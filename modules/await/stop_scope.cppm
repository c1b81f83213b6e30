// SPDX-License-Identifier: MIT
// ringbahn:await.stop_scope — a request to stop, reaching the one op a chain of coroutines waits on.
module;
#include <atomic>
#include <concepts>
#include <new>
#include <coroutine>
#include <utility>
export module ringbahn:await.stop_scope;

namespace ringbahn {

// when_any must not resume its caller before every branch has settled: a loser's op may have
// completed anyway (bytes taken from a socket, a connection accepted), and that result belongs
// to the caller. So instead of destroying the losers, it asks them to stop: the stop reaches the
// op each loser is suspended on, which is cancelled in place (an ASYNC_CANCEL; the awaiter stays
// alive) and resumes with whatever the kernel says — ECANCELED, or the data it got first.
//
// A StopScope belongs to one chain of coroutines (a when_any branch and the Tasks it awaits):
// such a chain is suspended on at most one awaiter at a time, its *leaf*. The leaf attaches
// itself while suspended and detaches before it touches its result; request() runs the leaf's
// stop function under the scope's lock, so the two never overlap. A leaf that attaches after
// the request stops at once (an op is not submitted: it completes with ECANCELED).
// Thread-safety: request() may come from any thread; attach/detach come from the chain's.
export class StopScope {
  public:
    using StopFn = void (*)(void* leaf) noexcept;

    using DropFn = void (*)(void* record, bool dropped) noexcept;

    StopScope() = default;
    StopScope(const StopScope&) = delete;
    StopScope& operator=(const StopScope&) = delete;
    ~StopScope() { dropped(); }

    // Ask the chain to stop: the attached leaf now, any later leaf when it attaches.
    inline void request() noexcept {
        lock();
        requested_ = true;
        if (fn_) fn_(leaf_);
        unlock();
    }
    [[nodiscard]] inline bool requested() const noexcept {
        return requested_.load(std::memory_order_acquire);
    }
    // Returns false (and attaches nothing) if a stop was requested already.
    [[nodiscard]] inline bool attach(void* leaf, StopFn fn) noexcept {
        lock();
        const bool ok = !requested_.load(std::memory_order_relaxed);
        if (ok) leaf_ = leaf, fn_ = fn;
        unlock();
        return ok;
    }
    // attach, and run `f` under the same lock: a leaf that registers itself somewhere else
    // (a stream's inbox) does it here, so no request falls between attaching and registering.
    template <class F>
    [[nodiscard]] inline bool attach_then(void* leaf, StopFn fn, F&& f) noexcept {
        lock();
        const bool ok = !requested_.load(std::memory_order_relaxed);
        if (ok) {
            leaf_ = leaf, fn_ = fn;
            f();
        }
        unlock();
        return ok;
    }
    // Runs f under the lock request() holds while it stops the leaf: f and a stop request are
    // ordered, one wholly before the other (an op's grant deciding between its SQE and an
    // ECANCELED one, on the driver's thread, while the stop comes from another).
    template <class F>
    inline void locked(F&& f) noexcept {
        lock();
        f();
        unlock();
    }
    inline void detach() noexcept {
        lock();
        leaf_ = nullptr;
        fn_ = nullptr;
        unlock();
    }

    // The chain returned a value that its holder (a when_any / when_all branch) keeps until the
    // awaiting coroutine takes it. If it is dropped instead, fn(record, true) undoes what
    // returning it did (Ring::read puts its bytes back); taken, fn(record, false) only frees.
    // Set, taken and dropped on the chain's thread; a newer value's hook takes the older one.
    inline void on_drop(void* record, DropFn fn) noexcept {
        claimed();
        drop_record_ = record, drop_fn_ = fn;
    }
    // A coroutine took the chain's value (a Task's awaiter, or the branch handing it on).
    inline void claimed() noexcept {
        if (drop_fn_) [[unlikely]]
            std::exchange(drop_fn_, nullptr)(drop_record_, false);
    }
    // Nobody will take it.
    inline void dropped() noexcept {
        if (drop_fn_) [[unlikely]]
            std::exchange(drop_fn_, nullptr)(drop_record_, true);
    }
    // The chain's value moves on into another holder's (a when_any awaited directly by another
    // when_any's branch): its undo goes along, so the outer value dropped still undoes it.
    inline void hand_to(StopScope& holder) noexcept {
        if (drop_fn_) [[unlikely]]
            holder.keep_also(std::exchange(drop_record_, nullptr), std::exchange(drop_fn_, nullptr));
    }

  private:
    // One more record beside the one held (a when_all's branches, or a winner and a loser that
    // both read): settled together, the newer first — put-back bytes then keep their order.
    void keep_also(void* record, DropFn fn) noexcept {
        if (!drop_fn_) {
            drop_record_ = record, drop_fn_ = fn;
            return;
        }
        struct Both {
            void* older;
            DropFn older_fn;
            void* newer;
            DropFn newer_fn;
            static void settle(void* p, bool dropped) noexcept {
                auto* b = static_cast<Both*>(p);
                b->newer_fn(b->newer, dropped);
                b->older_fn(b->older, dropped);
                delete b;
            }
        };
        auto* both = new (std::nothrow) Both{drop_record_, drop_fn_, record, fn};
        if (both == nullptr) { // no memory: the older value counts as taken, as on_drop would
            claimed();
            drop_record_ = record, drop_fn_ = fn;
            return;
        }
        drop_record_ = both, drop_fn_ = &Both::settle;
    }
    inline void lock() noexcept {
        while (busy_.test_and_set(std::memory_order_acquire))
            while (busy_.test(std::memory_order_relaxed)) {}
    }
    inline void unlock() noexcept { busy_.clear(std::memory_order_release); }

    std::atomic_flag busy_;
    std::atomic<bool> requested_{false};
    void* leaf_ = nullptr;
    StopFn fn_ = nullptr;
    void* drop_record_ = nullptr;
    DropFn drop_fn_ = nullptr;
};

// A promise type that keeps its chain's returned value for someone else (a when_any / when_all
// branch) says so: awaiting a Task there does not count as taking the value.
template <class P>
concept HoldsReturnedValue = requires { requires P::holds_returned_value; };

// The scope of the coroutine behind `h`, if its promise has one (Task and when_any's branches
// do; block_on's root and spawned roots do not: nothing asks them to stop).
export template <class P>
[[nodiscard]] inline StopScope* stop_scope_of(std::coroutine_handle<P> h) noexcept {
    if constexpr (requires { { h.promise().stop_scope() } -> std::same_as<StopScope*>; })
        return h.promise().stop_scope();
    else
        return nullptr;
}

// `co_await this_stop_scope()` inside a Task: the scope a stop request would reach it through
// (nullptr outside any when_any). For coroutines that want to stop at a point of their own
// choosing, e.g. before consuming bytes they could leave for the next reader.
export struct ThisStopScope {
    StopScope* scope = nullptr;
    bool await_ready() const noexcept { return false; }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) noexcept {
        scope = stop_scope_of(h);
        return false; // never suspends
    }
    StopScope* await_resume() const noexcept { return scope; }
};
export [[nodiscard]] inline ThisStopScope this_stop_scope() noexcept { return {}; }

} // namespace ringbahn
