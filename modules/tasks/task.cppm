// SPDX-License-Identifier: MIT
// ringbahn:tasks.task — Task<T>, a lazy coroutine: starts when awaited, owned by whoever holds it.
module;
#include <coroutine>
#include <cstddef>
#include <exception>
#include <type_traits>
#include <system_error>
#include <utility>
#include <variant>
export module ringbahn:tasks.task;
import :detail.await_once;
import :detail.recycler;
import :await.stop_scope;

namespace ringbahn {

export template <class T = void>
class Task;

namespace detail {

// Where a finished task leaves its value or exception for its awaiter.
template <class T>
class TaskOutcome {
  public:
    template <class U>
    void return_value(U&& v) noexcept(std::is_nothrow_constructible_v<T, U&&>) {
        value_.template emplace<1>(std::forward<U>(v));
    }
    void unhandled_exception() noexcept { value_.template emplace<2>(std::current_exception()); }
    // Once: the value moves out, and a second take (the task awaited twice) is spent_value().
    inline T take() {
        if (T* v = std::get_if<1>(&value_)) [[likely]] {
            T out = std::move(*v);
            value_.template emplace<0>();
            return out;
        }
        if (value_.index() == 2) std::rethrow_exception(std::get<2>(value_));
        return spent_value<T>();
    }

  private:
    std::variant<std::monostate, T, std::exception_ptr> value_;
};

template <>
class TaskOutcome<void> {
  public:
    void return_void() noexcept {}
    void unhandled_exception() noexcept { error_ = std::current_exception(); }
    void take() {
        if (error_) std::rethrow_exception(error_);
    }
    // A void task awaited twice gives nothing again: there is nothing to take twice.

  private:
    std::exception_ptr error_;
};

} // namespace detail

// A coroutine that does nothing until awaited; `co_await task` runs it and gives its value
// (or rethrows its exception). Destroying a Task that is suspended destroys its frame, and
// with it every awaiter inside: their ops are cancelled (see ringbahn:completion).
// Continuations use symmetric transfer, so long await chains do not grow the stack.
export template <class T>
class [[nodiscard]] Task {
  public:
    class promise_type : public detail::TaskOutcome<T> {
      public:
        // Frames come from the per-thread free list: no malloc per call in steady state.
        static void* operator new(std::size_t size) { return detail::Recycler::allocate(size); }
        static void operator delete(void* p, std::size_t size) noexcept {
            detail::Recycler::deallocate(p, size);
        }

        Task get_return_object() noexcept {
            return Task(std::coroutine_handle<promise_type>::from_promise(*this));
        }
        std::suspend_always initial_suspend() noexcept { return {}; }
        auto final_suspend() noexcept {
            struct ToContinuation {
                bool await_ready() noexcept { return false; }
                std::coroutine_handle<> await_suspend(
                    std::coroutine_handle<promise_type> h) noexcept {
                    return h.promise().continuation_;
                }
                void await_resume() noexcept {}
            };
            return ToContinuation{};
        }

        // The stop scope of whoever awaits this task (a when_any branch), inherited down the
        // chain so a stop request reaches the op the chain is suspended on.
        [[nodiscard]] StopScope* stop_scope() const noexcept { return scope_; }

      private:
        friend class Task;
        std::coroutine_handle<> continuation_ = std::noop_coroutine();
        StopScope* scope_ = nullptr;
        bool started_ = false;
    };

    Task(Task&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
    Task& operator=(Task&& other) noexcept {
        if (this != &other) {
            if (handle_) handle_.destroy();
            handle_ = std::exchange(other.handle_, {});
        }
        return *this;
    }
    Task(const Task&) = delete;
    Task& operator=(const Task&) = delete;
    // Whether it holds a coroutine (false once moved from): what spawn and spawn_on check.
    [[nodiscard]] bool valid() const noexcept { return static_cast<bool>(handle_); }
    ~Task() {
        if (handle_) handle_.destroy();
    }

    // Awaiting a task runs it, passing down the awaiter's stop scope.
    // Resuming a coroutine with the value takes it (StopScope::claimed) — unless that coroutine
    // only holds it for someone else (a when_any branch), who takes it later or drops it.
    struct Awaiter {
        std::coroutine_handle<promise_type> handle;
        StopScope* claims = nullptr;
        // Ready at once when there is nothing to run: the task finished, was moved from, or is
        // running for another awaiter (awaited twice: await_resume gives its spent value).
        bool await_ready() noexcept { return !handle || handle.done() || handle.promise().started_; }
        template <class P>
        std::coroutine_handle<> await_suspend(std::coroutine_handle<P> awaiting) noexcept {
            handle.promise().started_ = true;
            handle.promise().continuation_ = awaiting;
            StopScope* scope = stop_scope_of(awaiting);
            handle.promise().scope_ = scope;
            if constexpr (!HoldsReturnedValue<P>) claims = scope;
            return handle;
        }
        T await_resume() {
            if (!handle || !handle.done()) [[unlikely]] { // moved from, or running elsewhere
                if constexpr (std::is_void_v<T>)
                    throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                                            "ringbahn: awaited twice, or after it was moved from");
                else return detail::spent_value<T>();
            }
            if (claims) [[unlikely]]
                claims->claimed();
            return handle.promise().take();
        }
    };
    Awaiter operator co_await() && noexcept { return Awaiter{handle_}; }

  private:
    explicit Task(std::coroutine_handle<promise_type> h) noexcept : handle_(h) {}
    std::coroutine_handle<promise_type> handle_;
};

} // namespace ringbahn
