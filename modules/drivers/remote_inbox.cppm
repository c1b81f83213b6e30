// SPDX-License-Identifier: MIT
// ringbahn:drivers.remote_inbox — what other threads hand a one-thread driver, and its wake-up.
module;
#include <liburing.h>
#include <array>
#include <atomic>
#include <cstdint>
#include <coroutine>
#include <mutex>
#include <utility>
#include <vector>
export module ringbahn:drivers.remote_inbox;
import :protocol.completion;
import :drive.liveness;
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
    // Sends the message to the ring behind ring_fd without waiting for it; false if it could
    // not be submitted (a refusal by the kernel shows only to the target: no wake-up).
    bool wake(int ring_fd) noexcept;

  private:
    std::mutex mutex_;
    ::io_uring ring_{};
    bool open_ = false;
};

class RemoteInbox;

// Wake-ups this thread owes, sent when the scope ends. A Channel posts its waiter under the
// channel's lock (that is what makes a waiter's destruction safe) but sends the wake-up after
// unlocking: the woken thread's first act is to take that lock, and would find it still held
// for the length of a syscall. Scopes nest; one must not span a co_await.
class DeferredWakes {
  public:
    DeferredWakes() noexcept : outer_(current_) { current_ = this; }
    DeferredWakes(const DeferredWakes&) = delete;
    DeferredWakes& operator=(const DeferredWakes&) = delete;
    ~DeferredWakes();
    // The open scope of this thread, if any.
    [[nodiscard]] static DeferredWakes* current() noexcept { return current_; }
    // Owes a wake-up of the driver behind `inbox`; false when full (wake now instead).
    bool owe(RemoteInbox& inbox, int ring_fd, std::uint64_t driver_id) noexcept {
        if (count_ == owed_.size()) return false;
        owed_[count_++] = {&inbox, ring_fd, driver_id};
        return true;
    }

  private:
    struct Owed {
        RemoteInbox* inbox;
        int ring_fd;
        std::uint64_t driver_id; // checked alive before the inbox is touched
    };
    std::array<Owed, 4> owed_{};
    unsigned count_ = 0;
    DeferredWakes* outer_;
    static inline thread_local constinit DeferredWakes* current_ = nullptr;
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
    // The waker's ring: 0, or a negative errno (then the driver cannot be made). `driver_id`:
    // the owner's Liveness id (a deferred wake-up checks it).
    int open(std::uint64_t driver_id) noexcept {
        driver_id_ = driver_id;
        return waker_.open();
    }
    // Sends a wake-up (a DeferredWakes scope ending).
    void send_wake(int ring_fd) noexcept { (void)waker_.wake(ring_fd); }
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
        // The vectors go back and forth with their capacity: no allocation per drain. (Taken
        // out of the spares, not used in place: a spawned task may run a nested loop that
        // drains again.)
        auto posts = std::move(spare_posts_);
        auto cancels = std::move(spare_cancels_);
        auto spawns = std::move(spare_spawns_);
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
        posts.clear();
        cancels.clear();
        spawns.clear();
        spare_posts_ = std::move(posts);
        spare_cancels_ = std::move(cancels);
        spare_spawns_ = std::move(spawns);
    }

    // The owner is about to wait in the kernel: true if it may (nothing is waiting here), and
    // from then on a new entry sends a wake-up. Until then entries send none — the owner is
    // awake and takes them at its next turn. (Both sides seq_cst: either the owner sees the
    // entry, or the sender sees the owner asleep.)
    [[nodiscard]] inline bool may_sleep() noexcept {
        asleep_.store(true, std::memory_order_seq_cst);
        if (!pending_.load(std::memory_order_seq_cst)) return true;
        asleep_.store(false, std::memory_order_relaxed);
        return false;
    }
    inline void woke() noexcept { asleep_.store(false, std::memory_order_relaxed); }

  private:
    template <class Push>
    void add(int ring_fd, Push&& push) noexcept {
        bool wake = false;
        {
            std::lock_guard lock(mutex_);
            push(); // std::bad_alloc here ends the process (noexcept): no memory for a wake-up
            wake = !pending_.exchange(true, std::memory_order_seq_cst);
        }
        // The first entry since the last drain wakes the owner — if it sleeps (see may_sleep).
        wake = wake && asleep_.load(std::memory_order_seq_cst);
        // A refused MSG_RING (the target ring gone or its CQ overflowing): the owner still
        // finds the entry at its next turn, when another CQE ends its wait.
        if (!wake) return;
        if (auto* deferred = DeferredWakes::current(); deferred && deferred->owe(*this, ring_fd, driver_id_)) return;
        (void)waker_.wake(ring_fd);
    }

    std::mutex mutex_;
    std::vector<std::coroutine_handle<>> posts_;
    std::vector<Completion*> cancels_;
    std::vector<Task<void>> spawns_;
    std::atomic<bool> pending_{false}; // set with the first entry, cleared by drain
    std::atomic<bool> asleep_{false};  // the owner waits in io_uring_enter (may_sleep .. woke)
    // The owner's: emptied vectors kept for their capacity.
    std::vector<std::coroutine_handle<>> spare_posts_;
    std::vector<Completion*> spare_cancels_;
    std::vector<Task<void>> spare_spawns_;
    Waker waker_;
    std::uint64_t driver_id_ = 0;
};

inline DeferredWakes::~DeferredWakes() {
    current_ = outer_;
    for (unsigned i = 0; i < count_; ++i) {
        const Owed& o = owed_[i];
        Liveness::if_alive(o.driver_id, [&]() noexcept { o.inbox->send_wake(o.ring_fd); });
    }
}

} // namespace ringbahn::detail
