// SPDX-License-Identifier: MIT
// ringbahn:drivers.remote_inbox — what other threads hand a one-thread driver, and its wake-up.
module;
#include <liburing.h>
#include <atomic>
#include <coroutine>
#include <mutex>
#include <utility>
#include <vector>
export module ringbahn:drivers.remote_inbox;
import :protocol.completion;
import :tasks.task;

namespace ringbahn::detail {

// What ends the owner's wait in io_uring_enter: an IORING_OP_MSG_RING into its ring (a CQE with
// user_data 0, the driver's own: dispatched as nothing), sent from a small ring of the driver's
// own that any thread may use, one at a time. Made with the driver, so a wake-up never needs a
// new fd: at the fd limit (EMFILE, the state a busy server reaches) it still goes out.
class Waker {
  public:
    Waker() = default;
    Waker(const Waker&) = delete;
    Waker& operator=(const Waker&) = delete;
    ~Waker();
    // The ring, or why there is none (EMFILE, ENOMEM): the driver cannot be made without it.
    int open() noexcept;
    // Sends the message to the ring behind ring_fd; false if the kernel refused it.
    bool wake(int ring_fd) noexcept;

  private:
    std::mutex mutex_;
    ::io_uring ring_{};
    bool open_ = false;
};

// A LocalDriver's ring and queues are its thread's alone. Another thread — a pool handing a
// lease to a waiter, a StopScope asked to stop an op — leaves its wake-up or its cancel here
// and wakes the driver (wake_ring); the owner takes them at its next loop turn (drain). One
// MSG_RING per batch: a wake-up already on its way covers what is added before it is taken.
class RemoteInbox {
  public:
    void post(std::coroutine_handle<> h, int ring_fd) noexcept {
        add(ring_fd, [&] { posts_.push_back(h); });
    }
    // c's cancel reference is held (request_cancel / abandon): the owner sends the cancel.
    void cancel(Completion& c, int ring_fd) noexcept {
        add(ring_fd, [&] { cancels_.push_back(&c); });
    }
    // A task to start on the owner thread (LocalDriver::spawn from another thread). Never
    // started if the driver ends first: destroyed unstarted by the teardown's drain.
    void spawn(Task<void> task, int ring_fd) noexcept {
        add(ring_fd, [&] { spawns_.push_back(std::move(task)); });
    }
    // The waker's ring: 0, or a negative errno (then the driver cannot be made).
    int open() noexcept { return waker_.open(); }
    // Wakes the owner without leaving anything (a stop flag was set; see LocalDriver::serve).
    void wake(int ring_fd) noexcept {
        add(ring_fd, [] {});
    }
    // Forgets a posted h not taken yet; true if it was here.
    bool remove(std::coroutine_handle<> h) noexcept {
        std::lock_guard lock(mutex_);
        for (auto it = posts_.begin(); it != posts_.end(); ++it)
            if (*it == h) {
                posts_.erase(it);
                return true;
            }
        return false;
    }
    // Something waits to be taken (one load, no lock: the owner's loop asks every turn).
    [[nodiscard]] inline bool pending() const noexcept { return pending_.load(std::memory_order_acquire); }
    // The owner takes everything: posts in the order they came, then cancels, then tasks to
    // start (a spawned task may post or cancel again: that goes to the next drain).
    template <class OnPost, class OnCancel, class OnSpawn>
    void drain(OnPost&& on_post, OnCancel&& on_cancel, OnSpawn&& on_spawn) noexcept {
        std::vector<std::coroutine_handle<>> posts;
        std::vector<Completion*> cancels;
        std::vector<Task<void>> spawns;
        {
            std::lock_guard lock(mutex_);
            posts.swap(posts_);
            cancels.swap(cancels_);
            spawns.swap(spawns_);
            pending_.store(false, std::memory_order_relaxed);
        }
        for (auto h : posts) on_post(h);
        for (Completion* c : cancels) on_cancel(*c);
        for (auto& t : spawns) on_spawn(std::move(t));
    }

  private:
    template <class Push>
    void add(int ring_fd, Push&& push) noexcept {
        bool wake = false;
        {
            std::lock_guard lock(mutex_);
            push(); // std::bad_alloc here ends the process (noexcept): no memory for a wake-up
            wake = !pending_.exchange(true, std::memory_order_release);
        }
        // A refused MSG_RING (the target ring gone or its CQ overflowing): the owner still
        // finds the entry at its next turn, when another CQE ends its wait.
        if (wake) (void)waker_.wake(ring_fd);
    }

    std::mutex mutex_;
    std::vector<std::coroutine_handle<>> posts_;
    std::vector<Completion*> cancels_;
    std::vector<Task<void>> spawns_;
    std::atomic<bool> pending_{false}; // set with the first entry, cleared by drain
    Waker waker_;
};

} // namespace ringbahn::detail
