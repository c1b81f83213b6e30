// SPDX-License-Identifier: MIT
// ringbahn:tasks.task_set — detached (spawned) tasks, owned by their driver until they finish.
module;
#include <cerrno>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <mutex>
#include <system_error>
#include <utility>
export module ringbahn:tasks.task_set;
import :protocol.error;
import :tasks.task;

namespace ringbahn {

export class TaskSet;

namespace detail {

// The frame that runs one spawned Task<void>. It starts at once, and at its end unlinks itself
// from its set and destroys itself. A spawned task that throws terminates the program, as an
// exception escaping a std::thread does: nobody is left to receive it.
class SpawnedRoot {
  public:
    struct promise_type {
        TaskSet* set = nullptr;
        promise_type* prev = nullptr;
        promise_type* next = nullptr;

        SpawnedRoot get_return_object() noexcept {
            return SpawnedRoot{std::coroutine_handle<promise_type>::from_promise(*this)};
        }
        std::suspend_always initial_suspend() noexcept { return {}; }
        auto final_suspend() noexcept;
        void return_void() noexcept {}
        void unhandled_exception() noexcept { std::terminate(); }
    };
    std::coroutine_handle<promise_type> handle;
};

SpawnedRoot run_spawned(Task<void> task);

} // namespace detail

// Owns every spawned task that has not finished. A driver keeps one and, on teardown,
// destroys what is left (cancelling their ops) *before* it drains its ring, so no task can be
// resumed by a driver that is gone. Thread-safe: tasks finish on the reaping thread while
// others spawn. destroy_all() must run when no thread can resume a task of the set.
export class TaskSet {
  public:
    TaskSet() = default;
    TaskSet(const TaskSet&) = delete;
    TaskSet& operator=(const TaskSet&) = delete;
    ~TaskSet() { destroy_all(); }

    // Starts `task` now, on this thread, up to its first suspension.
    // A moved-from task is refused here, at the call (std::system_error, EINVAL), not left to
    // throw where it would run (a spawned task's exception ends the program).
    void spawn(Task<void> task) {
        if (!task.valid()) [[unlikely]]
            throw std::system_error(errno_code(EINVAL), "ringbahn: spawn of a moved-from task");
        auto root = detail::run_spawned(std::move(task)).handle;
        auto& p = root.promise();
        p.set = this;
        {
            std::lock_guard lock(mutex_);
            p.next = head_;
            if (head_) head_->prev = &p;
            head_ = &p;
            ++size_;
        }
        root.resume();
    }

    [[nodiscard]] std::size_t size() const noexcept {
        std::lock_guard lock(mutex_);
        return size_;
    }

    void destroy_all() noexcept {
        for (;;) {
            detail::SpawnedRoot::promise_type* p;
            {
                std::lock_guard lock(mutex_);
                p = head_;
                if (!p) return;
                unlink(*p);
            }
            // Outside the lock: destroying the frame cancels its ops, which may take locks.
            std::coroutine_handle<detail::SpawnedRoot::promise_type>::from_promise(*p).destroy();
        }
    }

    // Called by a root at its end (on the thread that resumed it last).
    void finished(detail::SpawnedRoot::promise_type& p) noexcept {
        std::lock_guard lock(mutex_);
        unlink(p);
    }

  private:
    void unlink(detail::SpawnedRoot::promise_type& p) noexcept {
        (p.prev ? p.prev->next : head_) = p.next;
        if (p.next) p.next->prev = p.prev;
        p.prev = p.next = nullptr;
        --size_;
    }

    mutable std::mutex mutex_;
    detail::SpawnedRoot::promise_type* head_ = nullptr;
    std::size_t size_ = 0;
};

namespace detail {
inline auto SpawnedRoot::promise_type::final_suspend() noexcept {
    struct Finish {
        bool await_ready() noexcept { return false; }
        void await_suspend(std::coroutine_handle<promise_type> h) noexcept {
            h.promise().set->finished(h.promise());
            h.destroy();
        }
        void await_resume() noexcept {}
    };
    return Finish{};
}

inline SpawnedRoot run_spawned(Task<void> task) { co_await std::move(task); }
} // namespace detail

} // namespace ringbahn
