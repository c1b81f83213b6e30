// SPDX-License-Identifier: MIT
// ringbahn:detail.spin_lock — a lock for critical sections a few instructions long.
module;
#include <atomic>
export module ringbahn:detail.spin_lock;

namespace ringbahn::detail {

// Test-and-test-and-set. For a push or a pop (a multishot inbox, a pool's free list), where a
// mutex's lock and unlock would cost more than the work they guard. Never held across a call
// that may block or resume a coroutine. Meets Lockable (std::lock_guard, std::unique_lock).
class SpinLock {
  public:
    inline void lock() const noexcept {
        while (busy_.test_and_set(std::memory_order_acquire))
            while (busy_.test(std::memory_order_relaxed)) {}
    }
    inline void unlock() const noexcept { busy_.clear(std::memory_order_release); }

  private:
    mutable std::atomic_flag busy_;
};

} // namespace ringbahn::detail
