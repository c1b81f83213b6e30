// SPDX-License-Identifier: MIT
// ringbahn:when — when_all and when_any: await several awaitables at once.
module;
#include <array>
#include <atomic>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
export module ringbahn:when;

namespace ringbahn {

namespace detail {

template <class A>
decltype(auto) awaiter_of(A&& a) {
    if constexpr (requires { std::forward<A>(a).operator co_await(); })
        return std::forward<A>(a).operator co_await();
    else
        return std::forward<A>(a);
}
template <class A>
using await_result_t = decltype(awaiter_of(std::declval<A>()).await_resume());
// void results are std::monostate in the tuple / variant.
template <class A>
using branch_value_t = std::conditional_t<std::is_void_v<await_result_t<A>>, std::monostate,
                                          await_result_t<A>>;

// What the branches of one when_all / when_any share. `pending` counts the arrivals still
// needed before the parent resumes: one per branch for when_all, one winner for when_any, plus
// one for the parent itself while it starts the branches (so a branch finishing early cannot
// resume it before it has suspended).
struct Join {
    std::atomic<std::uint32_t> pending;
    std::atomic<int> winner{-1};
    bool any = false;
    std::coroutine_handle<> parent;

    // A branch finished; returns the coroutine to run next.
    std::coroutine_handle<> arrive(int index) noexcept {
        if (any) {
            int none = -1;
            if (!winner.compare_exchange_strong(none, index, std::memory_order_acq_rel))
                return std::noop_coroutine(); // a loser finishing after the winner: stays put
        }
        if (pending.fetch_sub(1, std::memory_order_acq_rel) == 1) return parent;
        return std::noop_coroutine();
    }
};

// One branch: awaits one awaitable, stores its value, arrives at the Join. Starts suspended;
// destroying it before it finished destroys the awaiter inside it (cancelling its op).
template <class T>
class Branch {
  public:
    struct promise_type {
        Join* join = nullptr;
        int index = 0;
        std::optional<T> value;

        Branch get_return_object() noexcept {
            return Branch(std::coroutine_handle<promise_type>::from_promise(*this));
        }
        std::suspend_always initial_suspend() noexcept { return {}; }
        auto final_suspend() noexcept {
            struct Arrive {
                bool await_ready() noexcept { return false; }
                std::coroutine_handle<> await_suspend(std::coroutine_handle<promise_type> h) noexcept {
                    return h.promise().join->arrive(h.promise().index);
                }
                void await_resume() noexcept {}
            };
            return Arrive{};
        }
        template <class U>
        void return_value(U&& v) noexcept(std::is_nothrow_constructible_v<T, U&&>) {
            value.emplace(std::forward<U>(v));
        }
        void unhandled_exception() noexcept { std::terminate(); } // IO results are values
    };

    explicit Branch(std::coroutine_handle<promise_type> h) noexcept : handle_(h) {}
    Branch(Branch&& o) noexcept : handle_(std::exchange(o.handle_, {})) {}
    Branch& operator=(Branch&&) = delete;
    ~Branch() { reset(); }

    void start(Join& join, int index) noexcept {
        handle_.promise().join = &join;
        handle_.promise().index = index;
        handle_.resume();
    }
    void reset() noexcept {
        if (handle_) std::exchange(handle_, {}).destroy();
    }
    T take() noexcept { return std::move(*handle_.promise().value); }

  private:
    std::coroutine_handle<promise_type> handle_;
};

template <class A>
Branch<branch_value_t<A>> branch(A a) {
    if constexpr (std::is_void_v<await_result_t<A>>) {
        co_await std::move(a);
        co_return std::monostate{};
    } else {
        co_return co_await std::move(a);
    }
}

template <bool Any, class... As>
class WhenAwaiter {
  public:
    explicit WhenAwaiter(As... as) : branches_(branch(std::move(as))...) {}
    // Movable until awaited (so it can be a branch of another when_all / when_any).
    WhenAwaiter(WhenAwaiter&& other) noexcept : branches_(std::move(other.branches_)) {}

    bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> parent) noexcept {
        join_.any = Any;
        join_.parent = parent;
        join_.pending.store(Any ? 2 : sizeof...(As) + 1, std::memory_order_relaxed);
        std::apply([&](auto&... b) {
            int i = 0;
            // when_any stops starting branches once one has won.
            ((Any && join_.winner.load(std::memory_order_acquire) >= 0 ? void() : b.start(join_, i), ++i), ...);
        }, branches_);
        // The parent's own arrival: the last one in resumes it (here: do not suspend at all).
        return join_.pending.fetch_sub(1, std::memory_order_acq_rel) != 1;
    }
    auto await_resume() noexcept {
        if constexpr (Any) {
            const int w = join_.winner.load(std::memory_order_acquire);
            // The losers go first: destroying them cancels their ops (buffers are freed when
            // those ops' CQEs arrive, by their Cancellations).
            std::apply([&](auto&... b) {
                int i = 0;
                ((i++ != w ? b.reset() : void()), ...);
            }, branches_);
            return pick(w, std::index_sequence_for<As...>{});
        } else {
            return std::apply([](auto&... b) { return std::tuple<branch_value_t<As>...>(b.take()...); },
                              branches_);
        }
    }

  private:
    template <std::size_t... I>
    std::variant<branch_value_t<As>...> pick(int w, std::index_sequence<I...>) noexcept {
        std::optional<std::variant<branch_value_t<As>...>> out;
        ((int(I) == w ? void(out.emplace(std::in_place_index<I>, std::get<I>(branches_).take())) : void()), ...);
        return std::move(*out);
    }

    Join join_{};
    std::tuple<Branch<branch_value_t<As>>...> branches_;
};

} // namespace detail

// co_await when_all(a, b, ...): runs every awaitable at once; resumes when all have finished,
// with a tuple of their values (std::monostate for void). The awaitables are moved in.
export template <class... As>
[[nodiscard]] auto when_all(As... as) {
    static_assert(sizeof...(As) > 0);
    return detail::WhenAwaiter<false, As...>(std::move(as)...);
}

// co_await when_any(a, b, ...): runs every awaitable at once; resumes when the first finishes,
// with a variant whose index() is the winner. The others are cancelled at once — their
// awaiters destroyed, so their ops get an ASYNC_CANCEL — and their buffers are freed only after
// their ops' CQEs. Destroying the awaiting coroutine cancels all of them the same way.
// With DemoDriver, the usual rule holds: a loser's op must not complete on the reaper thread
// while the winner's coroutine destroys it elsewhere (run combinators on LocalDriver, or on
// the reaper thread).
export template <class... As>
[[nodiscard]] auto when_any(As... as) {
    static_assert(sizeof...(As) > 0);
    return detail::WhenAwaiter<true, As...>(std::move(as)...);
}

} // namespace ringbahn
