// SPDX-License-Identifier: MIT
// ringbahn:runtime.call_on — run a task on another core and get its value back where you are.
module;
#include <cerrno>
#include <coroutine>
#include <exception>
#include <expected>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>
export module ringbahn:runtime.call_on;
import :protocol.error;
import :drive.poster;
import :drivers.local;
import :await.stop_scope;
import :tasks.task;
import :tasks.block_on; // detail::IsResult
import :runtime.runtime;

namespace ringbahn {

namespace detail {

// What the caller's core and the callee's core share. The callee's chain runs under `scope`,
// so a stop reaches the op it waits on, on its own core (a cancel through that core's inbox).
template <class T>
struct RemoteCall {
    std::mutex mutex;
    StopScope scope;
    std::optional<std::conditional_t<std::is_void_v<T>, std::monostate, T>> value;
    std::exception_ptr error;
    bool finished = false;  // the callee's frame ended (value, error, or destroyed unfinished)
    bool abandoned = false; // the caller is gone: the outcome is dropped on the callee's core
    bool woken = false;     // the caller was posted, and has not resumed yet
    std::coroutine_handle<> caller;
    std::optional<Poster> poster;

    // The callee's frame ended, however (under no lock): wake the caller unless it is gone.
    void finish() noexcept {
        std::lock_guard lock(mutex);
        finished = true;
        if (abandoned) return;
        woken = true;
        poster->post(caller);
    }
};

// A coroutine whose chain answers to a given StopScope (the RemoteCall's): awaiting a Task
// from it passes that scope down, as a when_any branch does.
template <class T>
class Scoped {
  public:
    struct promise_type : TaskOutcome<T> {
        StopScope* scope = nullptr;
        std::coroutine_handle<> continuation;
        [[nodiscard]] StopScope* stop_scope() const noexcept { return scope; }
        Scoped get_return_object() noexcept {
            return Scoped(std::coroutine_handle<promise_type>::from_promise(*this));
        }
        std::suspend_always initial_suspend() noexcept { return {}; }
        auto final_suspend() noexcept {
            struct Back {
                bool await_ready() noexcept { return false; }
                std::coroutine_handle<> await_suspend(std::coroutine_handle<promise_type> h) noexcept {
                    return h.promise().continuation;
                }
                void await_resume() noexcept {}
            };
            return Back{};
        }
    };
    Scoped(Scoped&& o) noexcept : h_(std::exchange(o.h_, {})) {}
    ~Scoped() {
        if (h_) h_.destroy();
    }
    bool await_ready() const noexcept { return false; }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiting) noexcept {
        h_.promise().continuation = awaiting;
        return h_;
    }
    T await_resume() { return h_.promise().take(); }
    void set_scope(StopScope& s) noexcept { h_.promise().scope = &s; }

  private:
    explicit Scoped(std::coroutine_handle<promise_type> h) noexcept : h_(h) {}
    std::coroutine_handle<promise_type> h_;
};

template <class T>
Scoped<T> scoped(Task<T> task) {
    if constexpr (std::is_void_v<T>) co_await std::move(task);
    else co_return co_await std::move(task);
}

// Ends the call however the callee's frame ends — finished, or destroyed by its core's stop
// (then unfinished: the caller gets ESHUTDOWN). A parameter, so it ends with the frame even
// if the frame never started.
template <class T>
struct CallEnd {
    std::shared_ptr<RemoteCall<T>> call;
    explicit CallEnd(std::shared_ptr<RemoteCall<T>> c) noexcept : call(std::move(c)) {}
    CallEnd(CallEnd&& o) noexcept = default;
    ~CallEnd() {
        if (call) call->finish();
    }
};

template <class T>
Task<void> callee(Task<T> task, CallEnd<T> end) {
    auto& call = *end.call;
    auto body = scoped(std::move(task));
    body.set_scope(call.scope);
    try {
        if constexpr (std::is_void_v<T>) {
            co_await std::move(body);
            call.value.emplace();
        } else {
            call.value.emplace(co_await std::move(body));
        }
    } catch (...) {
        call.error = std::current_exception();
    }
}


} // namespace detail

// `co_await call_on(rt, core, task)`: runs `task` on `core` and resumes the caller where it
// was, with the task's value (or its exception). Unlike switch_to, nothing of the caller moves:
// the callee is a task of its own, owned by its core. So:
//  - a stop request on the caller (when_any, with_timeout) is passed to the callee's chain and
//    cancels the op it waits on, on the callee's core; the caller gets what the callee returns;
//  - destroying the caller mid-call is safe from its own core: the callee is asked to stop, and
//    its outcome is dropped on its core when it ends (never resumed into a dead frame);
//  - a callee destroyed unfinished (its core stopping), or refused (no such core: EINVAL;
//    stopping: ESHUTDOWN), gives that error — the Result's, or thrown as std::system_error.
// The caller must run on a LocalDriver loop (a Runtime core): EPERM otherwise.
export template <class T>
class CallOn {
  public:
    CallOn(Runtime& rt, unsigned core, Task<T> task)
        : rt_(&rt), core_(core), task_(std::move(task)), call_(std::make_shared<detail::RemoteCall<T>>()) {}
    // Moved before it is awaited (into when_any): nothing started yet.
    CallOn(CallOn&& o) noexcept
        : rt_(o.rt_), core_(o.core_), task_(std::move(o.task_)), call_(std::move(o.call_)),
          spent_(o.spent_), error_(o.error_) {}
    ~CallOn() {
        if (scope_) std::exchange(scope_, nullptr)->detach();
        if (!started_) return;
        bool stop_it = false;
        {
            std::lock_guard lock(call_->mutex);
            if (!call_->finished) call_->abandoned = stop_it = true;
            else if (call_->woken) call_->poster->unpost(call_->caller); // posted, not resumed
        }
        if (stop_it) call_->scope.request(); // reaches the callee's op on its own core
    }

    bool await_ready() const noexcept { return false; }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        if (spent_ || !call_) return fail(EINVAL); // awaited again, or moved from: touch nothing
        spent_ = true;
        auto* here = drivers::LocalDriver::current();
        if (!here) return fail(EPERM);
        call_->caller = h;
        call_->poster.emplace(*here);
        if (StopScope* scope = stop_scope_of(h)) {
            if (!scope->attach(this, &CallOn::on_stop)) return fail(ECANCELED);
            scope_ = scope;
        }
        auto spawned = rt_->spawn_on(core_, detail::callee<T>(std::move(task_), detail::CallEnd<T>(call_)));
        if (!spawned) {
            // The callee was destroyed unstarted, and its end posted us: take that back.
            std::lock_guard lock(call_->mutex);
            call_->poster->unpost(h);
            call_->woken = false;
            if (scope_) std::exchange(scope_, nullptr)->detach();
            return fail(spawned.error().value());
        }
        started_ = true;
        expected_.emplace(*here); // a block_on caller waits for the answer, not EDEADLK
        return true;
    }
    T await_resume() {
        if (scope_) std::exchange(scope_, nullptr)->detach();
        expected_.reset();
        std::error_code why;
        if (error_) {
            why = errno_code(error_);
        } else {
            std::lock_guard lock(call_->mutex);
            call_->woken = false;
            started_ = false; // ended: the destructor has nothing to stop
            if (call_->error) std::rethrow_exception(call_->error);
            if (call_->value) {
                if constexpr (std::is_void_v<T>) return;
                else return std::move(*call_->value);
            }
            why = errno_code(ESHUTDOWN); // destroyed unfinished by its core's stop
        }
        if constexpr (detail::IsResult<T>::value) return T(std::unexpected(why));
        else throw std::system_error(why, "call_on");
    }

  private:
    bool fail(int e) noexcept {
        error_ = e;
        return false;
    }
    // The caller's stop request (any thread, under its scope's lock): pass it on.
    static void on_stop(void* self) noexcept { static_cast<CallOn*>(self)->call_->scope.request(); }

    Runtime* rt_;
    unsigned core_;
    Task<T> task_;
    std::shared_ptr<detail::RemoteCall<T>> call_;
    StopScope* scope_ = nullptr;
    std::optional<drivers::LocalDriver::PostExpected> expected_;
    bool started_ = false;
    bool spent_ = false;
    int error_ = 0;
};

export template <class T>
[[nodiscard]] CallOn<T> call_on(Runtime& rt, unsigned core, Task<T> task) {
    return CallOn<T>(rt, core, std::move(task));
}

} // namespace ringbahn
