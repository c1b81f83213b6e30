// SPDX-License-Identifier: MIT
// ringbahn:tasks.block_on — run one Task to completion from synchronous code (main, a test).
module;
#include <coroutine>
#include <expected>
#include <system_error>
#include <type_traits>
#include <exception>
#include <utility>
export module ringbahn:tasks.block_on;
import :drive.done_signal;
import :drive.drive;
import :tasks.task;

namespace ringbahn {

namespace detail {

// The frame block_on waits on: it starts at once, awaits the task, and at its end (suspended,
// so the waiter may destroy it) sets the signal.
template <class T>
class BlockingRoot {
  public:
    struct promise_type : TaskOutcome<T> {
        DoneSignal* done = nullptr;
        BlockingRoot get_return_object() noexcept {
            return BlockingRoot{std::coroutine_handle<promise_type>::from_promise(*this)};
        }
        std::suspend_always initial_suspend() noexcept { return {}; }
        auto final_suspend() noexcept {
            struct Signal {
                bool await_ready() noexcept { return false; }
                void await_suspend(std::coroutine_handle<promise_type> h) noexcept {
                    h.promise().done->set(); // last touch of the frame by this thread
                }
                void await_resume() noexcept {}
            };
            return Signal{};
        }
    };

    BlockingRoot(BlockingRoot&& o) noexcept : handle_(std::exchange(o.handle_, {})) {}
    BlockingRoot(const BlockingRoot&) = delete;
    ~BlockingRoot() {
        if (handle_) handle_.destroy();
    }
    void start(DoneSignal& done) {
        handle_.promise().done = &done;
        handle_.resume();
    }
    T take() { return handle_.promise().take(); }
    void destroy() noexcept {
        if (handle_) std::exchange(handle_, {}).destroy();
    }

  private:
    explicit BlockingRoot(std::coroutine_handle<promise_type> h) noexcept : handle_(h) {}
    std::coroutine_handle<promise_type> handle_;
};

template <class T>
BlockingRoot<T> run_blocking(Task<T> task) {
    if constexpr (std::is_void_v<T>)
        co_await std::move(task);
    else
        co_return co_await std::move(task);
}


template <class T>
struct IsResult : std::false_type {};
template <class U>
struct IsResult<std::expected<U, std::error_code>> : std::true_type {};

} // namespace detail

// Runs `task` on `driver` and returns its value (or rethrows its exception). The task starts on
// this thread; with a driver that reaps on its own thread it continues there, and this thread
// waits. Do not call it from a coroutine running on the same driver: it would wait on itself.
// When the driver's loop fails (LocalDriver: EPERM off its thread, EDEADLK when the task waits
// on something nothing in flight can bring), the task is destroyed — its ops cancelled — and
// the error is the value if T is a Result, else thrown as std::system_error.
export template <Drive D, class T>
T block_on(D& driver, Task<T> task) {
    DoneSignal done;
    auto root = detail::run_blocking(std::move(task));
    if constexpr (requires { driver.enter(); }) {
        auto entered = driver.enter(); // the task's first steps run on the driver's behalf
        root.start(done);
    } else {
        root.start(done);
    }
    if constexpr (!std::is_void_v<decltype(driver.run_until(done))>) {
        if (auto ran = driver.run_until(done); !ran) {
            root.destroy(); // unfinished: its awaiters cancel their ops
            if constexpr (detail::IsResult<T>::value)
                return std::unexpected(ran.error());
            else
                throw std::system_error(ran.error(), "block_on");
        }
    } else {
        driver.run_until(done);
    }
    return root.take();
}

} // namespace ringbahn
