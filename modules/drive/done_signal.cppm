// SPDX-License-Identifier: MIT
// ringbahn:drive.done_signal — "the root task finished", set on any thread, awaited by block_on.
module;
#include <atomic>
#include <condition_variable>
#include <mutex>
export module ringbahn:drive.done_signal;

namespace ringbahn {

// set() notifies under the lock: the waiter may destroy the signal as soon as it sees it set,
// and it cannot see that before set() has released the lock — so set() never touches a
// destroyed signal (the reason this is not a bare std::atomic<bool>::wait).
export class DoneSignal {
  public:
    inline void set() noexcept {
        std::lock_guard lock(mutex_);
        done_.store(true, std::memory_order_release);
        changed_.notify_all();
    }
    [[nodiscard]] inline bool is_set() const noexcept {
        return done_.load(std::memory_order_acquire);
    }
    inline void wait() const noexcept {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [this] { return done_.load(std::memory_order_relaxed); });
    }

  private:
    mutable std::mutex mutex_;
    mutable std::condition_variable changed_;
    std::atomic<bool> done_{false};
};

} // namespace ringbahn
