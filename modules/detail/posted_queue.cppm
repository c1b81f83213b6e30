// SPDX-License-Identifier: MIT
// ringbahn:detail.posted_queue — coroutines a driver resumes at its next loop turn (Drive::post).
module;
#include <coroutine>
#include <cstddef>
#include <deque>
export module ringbahn:detail.posted_queue;

namespace ringbahn::detail {

// Not thread-safe: a threaded driver guards it with its lock. Resumed one at a time, in order,
// so a resumption may unpost (destroy) one posted after it. A loop turn resumes only what was
// posted before it began (size() at its start): a coroutine that yields by posting itself again
// waits for the next turn, so CQEs and other threads' posts are not starved.
class PostedQueue {
  public:
    inline void push(std::coroutine_handle<> h) { posted_.push_back(h); }
    [[nodiscard]] inline bool empty() const noexcept { return posted_.empty(); }
    [[nodiscard]] inline std::size_t size() const noexcept { return posted_.size(); }
    inline std::coroutine_handle<> pop() noexcept {
        const auto h = posted_.front();
        posted_.pop_front();
        return h;
    }
    // Forgets h if it is still waiting; true if it was.
    inline bool remove(std::coroutine_handle<> h) noexcept {
        for (auto it = posted_.begin(); it != posted_.end(); ++it)
            if (*it == h) {
                posted_.erase(it);
                return true;
            }
        return false;
    }
    inline void clear() noexcept { posted_.clear(); }

  private:
    std::deque<std::coroutine_handle<>> posted_;
};

} // namespace ringbahn::detail
