// SPDX-License-Identifier: MIT
// ringbahn:await.when — when_all and when_any: await several awaitables at once.
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
export module ringbahn:await.when;
import :detail.await_once;
import :await.stop_scope;

namespace ringbahn {

// What co_await when_any(...) gives: which branch finished first, and what *every* branch gave.
// The losers were asked to stop and have settled: each gives what its op ended with — usually
// an error (std::errc::operation_canceled), but a loser whose op completed anyway gives its
// real result (the bytes it received, the connection it accepted), which is the caller's.
export template <class... Ts>
struct AnyOf {
    std::size_t winner;
    std::tuple<Ts...> values;

    // The winner; the number of branches if none won (a spent when_any: detail::AwaitOnce).
    [[nodiscard]] std::size_t index() const noexcept { return winner; }
    template <std::size_t I>
    [[nodiscard]] auto& get() noexcept { return std::get<I>(values); }
};

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
// needed before the parent resumes: one per branch (when_any too: it waits until every loser
// has settled, so nothing a loser's op produced is dropped), plus one for the parent itself
// while it starts the branches (so a branch finishing early cannot resume it before it has
// suspended). For when_any, the first arrival wins and asks every other branch to stop.
struct Join {
    std::atomic<std::uint32_t> pending;
    std::atomic<int> winner{-1};
    bool any = false;
    std::coroutine_handle<> parent;
    StopScope* const* scopes = nullptr; // each branch's
    int count = 0;

    void stop_all(int except = -1) noexcept {
        for (int i = 0; i < count; ++i)
            if (i != except) scopes[i]->request();
    }

    // A branch finished; returns the coroutine to run next.
    std::coroutine_handle<> arrive(int index) noexcept {
        if (any) {
            int none = -1;
            if (winner.compare_exchange_strong(none, index, std::memory_order_acq_rel))
                stop_all(index);
        }
        if (pending.fetch_sub(1, std::memory_order_acq_rel) == 1) return parent;
        return std::noop_coroutine();
    }
};

// A finished op nobody will take: what it produced is given back. An event with a finish()
// hook has already taken it into itself (a provided buffer's lease), so dropping the event
// gives it back; otherwise the event's own Cancellation runs with the op's result (an accepted
// fd is closed). Not covered: an fd a link's event produced (see the README's audit notes).
template <class T>
void give_back(T& v) noexcept {
    if constexpr (requires { v.event.finish(0, 0); }) {
        return;
    } else if constexpr (requires { std::move(v.event).cancel().run(0, 0); v.result; }) {
        const std::int32_t res = v.result ? static_cast<std::int32_t>(*v.result)
                                          : -static_cast<std::int32_t>(v.result.error().value());
        std::move(v.event).cancel().run(res, 0);
    }
}

// One branch: awaits one awaitable, stores its value, arrives at the Join. Starts suspended;
// destroying it before it finished destroys the awaiter inside it (cancelling its op).
template <class T>
class Branch {
  public:
    struct promise_type {
        Join* join = nullptr;
        int index = 0;
        std::optional<T> value;
        StopScope scope; // reaches the op this branch waits on: when_any's stop request
        // The branch keeps its awaitable's value until the caller takes it (or drops it).
        static constexpr bool holds_returned_value = true;

        [[nodiscard]] StopScope* stop_scope() noexcept { return &scope; }

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
        // IO results are values; anything thrown (a spent awaitable's std::system_error, the
        // user's own) is rethrown to the awaiter of when_all / when_any when it takes the values.
        void unhandled_exception() noexcept { error = std::current_exception(); }
        std::exception_ptr error;
    };

    Branch() noexcept = default; // none: a spent WhenAwaiter's
    explicit Branch(std::coroutine_handle<promise_type> h) noexcept : handle_(h) {}
    Branch(Branch&& o) noexcept : handle_(std::exchange(o.handle_, {})) {}
    Branch& operator=(Branch&&) = delete;
    ~Branch() { reset(); }

    void start(Join& join, int index) noexcept {
        handle_.promise().join = &join;
        handle_.promise().index = index;
        handle_.resume();
    }
    // Destroyed before its value was taken (the coroutine awaiting when_any / when_all went
    // away): what the op produced is given back as a cancelled op's would be — an accepted fd
    // closed, a buffer freed or returned to its ring.
    // A Ring read's value dropped puts its bytes back in the Ring (StopScope::dropped).
    void reset() noexcept {
        if (!handle_) return;
        if (auto& v = handle_.promise().value) {
            handle_.promise().scope.dropped();
            give_back(*v);
        }
        std::exchange(handle_, {}).destroy();
    }
    // A branch that threw: rethrown before any value is taken, so the other branches' values
    // stay in their branches and are given back (closed, freed) with them.
    void rethrow_if_failed() const {
        if (handle_.promise().error) std::rethrow_exception(handle_.promise().error);
    }
    // `holder`: the scope of a branch that holds this value in turn (when_any nested directly in
    // another's branch) — it takes over the undo. Else the value is the awaiter's now.
    T take(StopScope* holder) noexcept {
        if (holder) [[unlikely]]
            handle_.promise().scope.hand_to(*holder);
        else
            handle_.promise().scope.claimed();
        T out = std::move(*handle_.promise().value);
        handle_.promise().value.reset();
        return out;
    }
    StopScope* scope() noexcept { return &handle_.promise().scope; }

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
    static constexpr int count = sizeof...(As);

    explicit WhenAwaiter(As... as) : branches_(branch(std::move(as))...) {}
    // Movable until awaited (so it can be a branch of another when_all / when_any). The one
    // moved from is spent, as an awaited one is (detail::AwaitOnce).
    // Moved once awaited (while its branches run, through a pointer from elsewhere): the new
    // one is spent and empty, and the branches stay with the one that runs them.
    WhenAwaiter(WhenAwaiter&& other) noexcept
        : spent_(std::exchange(other.spent_, true)),
          branches_(spent_ ? std::tuple<Branch<branch_value_t<As>>...>{}
                           : std::move(other.branches_)) {}
    ~WhenAwaiter() {
        if (outer_) outer_->detach();
        // Dropped values go back last branch first: each Ring read puts its bytes in front, so
        // the first branch's end up first — the order they were read in.
        [this]<std::size_t... I>(std::index_sequence<I...>) {
            constexpr std::size_t n = sizeof...(I);
            (std::get<n - 1 - I>(branches_).reset(), ...);
        }(std::index_sequence_for<As...>{});
    }

    // Awaited once, as an rvalue (detail::AwaitOnce).
    [[nodiscard]] AwaitOnce<WhenAwaiter> operator co_await() && noexcept { return {*this}; }

  private:
    friend struct AwaitOnce<WhenAwaiter>;

    // Awaited already (or now), or moved from: its branches are running, have run, or are
    // elsewhere. A spent await gives every branch's spent_value (EINVAL), and no winner.
    [[nodiscard]] bool spent() const noexcept { return spent_; }
    auto spent_value() {
        std::tuple<branch_value_t<As>...> values{detail::spent_value<branch_value_t<As>>()...};
        if constexpr (Any)
            return AnyOf<branch_value_t<As>...>{count, std::move(values)};
        else
            return values;
    }

    template <class P>
    bool suspend(std::coroutine_handle<P> parent) noexcept {
        spent_ = true;
        join_.any = Any;
        join_.parent = parent;
        join_.pending.store(count + 1, std::memory_order_relaxed);
        std::apply([&](auto&... b) {
            int i = 0;
            ((scopes_[i++] = b.scope()), ...);
        }, branches_);
        join_.scopes = scopes_.data();
        join_.count = count;
        if constexpr (HoldsReturnedValue<P>) holder_ = stop_scope_of(parent);
        // Nested in another when_any's branch: its stop request reaches every branch of ours.
        if (StopScope* outer = stop_scope_of(parent)) {
            if (outer->attach(this, &WhenAwaiter::on_stop))
                outer_ = outer;
            else
                join_.stop_all();
        }
        std::apply([&](auto&... b) {
            int i = 0;
            (b.start(join_, i++), ...);
        }, branches_);
        // The parent's own arrival: the last one in resumes it (here: do not suspend at all).
        return join_.pending.fetch_sub(1, std::memory_order_acq_rel) != 1;
    }
    auto resume() {
        if (outer_) std::exchange(outer_, nullptr)->detach();
        std::apply([](auto&... b) { (b.rethrow_if_failed(), ...); }, branches_);
        auto values = std::apply(
            [h = holder_](auto&... b) { return std::tuple<branch_value_t<As>...>(b.take(h)...); }, branches_);
        if constexpr (Any)
            return AnyOf<branch_value_t<As>...>{
                static_cast<std::size_t>(join_.winner.load(std::memory_order_acquire)),
                std::move(values)};
        else
            return values;
    }

    static void on_stop(void* self) noexcept { static_cast<WhenAwaiter*>(self)->join_.stop_all(); }

    bool spent_ = false;
    Join join_{};
    std::array<StopScope*, count> scopes_{};
    StopScope* holder_ = nullptr; // the awaiting branch's scope, if it holds our value in turn
    StopScope* outer_ = nullptr;
    std::tuple<Branch<branch_value_t<As>>...> branches_;
};

} // namespace detail

// co_await when_all(a, b, ...): runs every awaitable at once; resumes when all have finished,
// with a tuple of their values (std::monostate for void). The awaitables are moved in. Inside a
// when_any branch that is asked to stop, every branch is asked to stop.
export template <class... As>
[[nodiscard]] auto when_all(As... as) {
    static_assert(sizeof...(As) > 0);
    return detail::WhenAwaiter<false, As...>(std::move(as)...);
}

// co_await when_any(a, b, ...): runs every awaitable at once; the first to finish wins, and
// every other one is asked to stop: the op it waits on is cancelled in place (ASYNC_CANCEL).
// Resumes once *every* branch has settled, with an AnyOf: index() is the winner, get<I>() each
// branch's value. Nothing is dropped: a loser whose op completed before its cancel took effect
// gives its real result (check each branch, not only the winner). Awaitables that do not take
// stop requests (a user's own awaiter) run to their end. Destroying the awaiting coroutine
// instead destroys every branch: their ops are cancelled and what they produced is given back
// (fds closed, buffers freed or returned) after their CQEs.
export template <class... As>
[[nodiscard]] auto when_any(As... as) {
    static_assert(sizeof...(As) > 0);
    return detail::WhenAwaiter<true, As...>(std::move(as)...);
}

} // namespace ringbahn
