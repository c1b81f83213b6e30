// SPDX-License-Identifier: MIT
// ringbahn:drivers.local — a run-to-completion driver: one ring, one thread, no locks.
module;
#include <liburing.h>
#include <sys/uio.h>
#include <atomic>
#include <cerrno>
#include <coroutine>
#include <cstdint>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>
export module ringbahn:drivers.local;
import :protocol.completion;
import :detail.posted_queue;
import :drivers.remote_inbox;
import :detail.uring;
import :drive.drive;
import :drive.liveness;
import :drive.done_signal;
import :protocol.error;
import :events.msg_ring;
import :protocol.slot_request;
import :await.submission;
import :tasks.task;
import :tasks.task_set;

namespace ringbahn::drivers {

// Test seams (fault injection): see Uring's FaultHooksView. Each hook returns 0, or a
// negative errno the driver then handles as if the kernel had answered it.
export struct FaultHooks {
    int (*before_submit)(void* ctx) noexcept = nullptr; // e.g. -EBUSY, -EAGAIN
    int (*before_wait)(void* ctx) noexcept = nullptr;   // e.g. -EINTR
    void* ctx = nullptr;
};

export struct LocalOptions {
    // SQ entries: how many SQEs a loop turn can batch. Ops in flight are not limited by it —
    // a server may hold a read on each of 20,000 idle connections with 256 entries.
    std::uint32_t entries = 256;
    // 0 = 16 × entries. CQEs past it wait in the kernel's overflow list until reaped.
    std::uint32_t cq_entries = 0;
    // SINGLE_ISSUER | DEFER_TASKRUN: completions are produced only when this thread asks for
    // them, with no inter-processor interrupts. Off: the kernel posts CQEs as ops finish.
    bool defer_taskrun = true;
    // A kernel thread polls the SQ: submitting costs no syscall while it is awake, at the price
    // of a core spinning for up to `sqpoll_idle_ms` after the last submission.
    bool sqpoll = false;
    std::uint32_t sqpoll_idle_ms = 100;
    FaultHooks faults{};
    std::vector<std::uint8_t> hide_opcodes{}; // test seam: act as if the kernel lacked them
};

// Everything — submitting, reaping, resuming coroutines — happens on the thread that created
// it, inside run_until() / run_once() / poll(). SQEs prepared during a loop turn go to the
// kernel together at the start of the next io_uring_enter. Use one per thread.
export class LocalDriver : public Submitter {
  public:
    [[nodiscard]] static Result<std::unique_ptr<LocalDriver>> create(LocalOptions options = {});

    LocalDriver(const LocalDriver&) = delete;
    LocalDriver& operator=(const LocalDriver&) = delete;
    ~LocalDriver(); // Drive-contract teardown, on the owning thread
    // Destroyed on another thread while ops are in flight, the driver cannot drain them: the
    // kernel lets only the owner thread reap (SINGLE_ISSUER). It is then left alive — never
    // freed, its ring never unmapped, counted in leaked_on_foreign_thread() — so the kernel and
    // late awaiters touch only live memory: a leak on a misuse, never a use-after-free. With
    // nothing in flight it tears down normally on any thread.
    static void operator delete(LocalDriver* self, std::destroying_delete_t) noexcept;
    [[nodiscard]] static std::uint64_t leaked_on_foreign_thread() noexcept {
        return foreign_leaks_.load(std::memory_order_relaxed);
    }

    // Drive
    // Sent next turn. From a thread other than the one that created the driver, the op is
    // refused with EPERM: the ring is SINGLE_ISSUER, and nothing here is locked.
    inline bool acquire(SlotRequest& r) noexcept {
        if (!on_owner_thread()) [[unlikely]] {
            r.refuse(EPERM);
            return true;
        }
        return core_.acquire(r);
    }
    // The one-SQE fast path (see DirectSqe): an SQE now, or nullptr and acquire() decides.
    [[gnu::always_inline]] inline ::io_uring_sqe* sqe_now() noexcept {
        return on_owner_thread() ? core_.sqe_now() : nullptr;
    }
    [[gnu::always_inline]] inline void sqe_filled(::io_uring_sqe& sqe) noexcept {
        core_.sqe_filled(sqe);
    }
    inline bool withdraw(SlotRequest& r) noexcept { return core_.withdraw(r); }
    // From another thread (a StopScope::request there, a pool handing a lease to a waiter of
    // ours) the cancel or the wake-up goes through the remote inbox: the SQ and the posted
    // queue are this thread's alone. A MSG_RING wakes our loop, which takes them at once.
    inline void cancel(Completion& c) noexcept {
        if (on_owner_thread()) [[likely]]
            core_.cancel(c);
        else
            remote_.cancel(c, uring_fd());
    }
    inline void post(std::coroutine_handle<> h) noexcept {
        if (on_owner_thread()) [[likely]]
            posted_.push(h);
        else
            remote_.post(h, uring_fd());
    }
    inline bool unpost(std::coroutine_handle<> h) noexcept {
        if (on_owner_thread() && posted_.remove(h)) return true;
        return remote_.remove(h);
    }
    [[nodiscard]] inline const Liveness& liveness() const noexcept { return liveness_; }
    // Fails with EPERM on a thread other than the owner, and with EDEADLK when `done` is not
    // set and nothing can set it: nothing in flight, nothing posted, no wake-up promised
    // (PostExpected) — a task waiting for a pool lease nobody holds on this driver. Nested in
    // serve() (block_on on a Runtime core), ESHUTDOWN once serve's stop flag is set: the work
    // it waits for may be on a core that has stopped, and its own core must leave its loop.
    Result<void> run_until(const DoneSignal& done);
    // Starts `task` now on the owner thread; from another thread it starts at the driver's
    // next loop turn (through the remote inbox, with a wake-up), on the owner thread — a
    // driver's tasks run only where its ring may be used. A task spawned from another thread
    // onto a driver that ends before its next turn is destroyed unstarted.
    void spawn(Task<void> task) {
        if (on_owner_thread()) [[likely]]
            tasks_.spawn(std::move(task)); // refuses a moved-from task (EINVAL)
        else if (!task.valid()) [[unlikely]] // refused at the call here too, not on the owner
            throw std::system_error(errno_code(EINVAL), "ringbahn: spawn of a moved-from task");
        else
            remote_.spawn(std::move(task), uring_fd());
    }
    // Starts `task` at the driver's next loop turn, on the owner thread, whichever thread calls
    // (the owner's too: a task that spawns the next of a long chain does not grow the stack, and
    // it starts under this driver even when called from a nested loop). Destroyed unstarted if
    // the driver ends first. A moved-from task: std::system_error (EINVAL), at the call.
    void spawn_later(Task<void> task) {
        if (!task.valid()) [[unlikely]]
            throw std::system_error(errno_code(EINVAL), "ringbahn: spawn of a moved-from task");
        remote_.spawn(std::move(task), uring_fd()); // the owner awake: no wake-up is sent
    }
    // Destroys the spawned tasks still alive (their awaiters cancel their ops), as teardown does
    // first; the driver stays usable. For an owner stopping several drivers in step (Runtime).
    void destroy_tasks() noexcept { tasks_.destroy_all(); }

    // Loop turns until `stop` is set, waiting in the kernel even with nothing in flight: the
    // loop of a thread that serves this driver (a Runtime core), woken by a CQE, or by another
    // thread's post, spawn, cancel or wake(). EPERM off the owner thread.
    Result<void> serve(const std::atomic<bool>& stop);
    // Ends a serve() wait from any thread (set its stop flag first: a wake-up sent before the
    // wait starts ends that wait at once).
    void wake() noexcept {
        if (on_owner_thread()) return; // the loop is not waiting: we are running on it
        remote_.wake(uring_fd());
    }
    // The driver whose loop is running on this thread (inside run_once / run_until / serve),
    // or nullptr: where a coroutine resumed by a loop submits its ops and is woken (Channel).
    [[nodiscard]] static LocalDriver* current() noexcept { return current_; }
    // Code on this thread runs on behalf of this driver until the guard ends: current()
    // answers it (block_on starts its task under one, before the loop runs).
    class Entered {
      public:
        explicit Entered(LocalDriver* d) noexcept : saved_(std::exchange(current_, d)) {}
        Entered(const Entered&) = delete;
        Entered& operator=(const Entered&) = delete;
        ~Entered() { current_ = saved_; }

      private:
        LocalDriver* saved_;
    };
    [[nodiscard]] Entered enter() noexcept { return Entered(on_owner_thread() ? this : current_); }

    // A wake-up another thread will post here (a Channel wait, a call_on's answer): while one is
    // held, run_until() waits in the kernel for it instead of answering EDEADLK. Made and ended on
    // the owner thread; harmless if it outlives the driver.
    class PostExpected {
      public:
        explicit PostExpected(LocalDriver& d) noexcept : driver_(&d), id_(d.liveness_.id()) {
            ++d.expected_posts_;
        }
        PostExpected(const PostExpected&) = delete;
        PostExpected& operator=(const PostExpected&) = delete;
        ~PostExpected() {
            Liveness::if_alive(id_, [this]() noexcept { --driver_->expected_posts_; });
        }

      private:
        LocalDriver* driver_;
        std::uint64_t id_;
    };

    // One loop turn: submit what is prepared, wait for one CQE if `wait` and anything is in
    // flight, then complete every ready CQE. Returns the CQEs handled; EPERM on a thread other
    // than the owner (nothing is touched).
    Result<std::uint32_t> run_once(bool wait = true) { return turn(wait, false); }
    // run_once without waiting: for callers that step the driver by hand.
    Result<std::uint32_t> poll() { return run_once(false); }

    // Ops and cancels whose CQE has not been handled yet (no limit: memory bounds it).
    [[nodiscard]] std::uint32_t in_flight() const noexcept { return core_.in_flight(); }
    // Times the CQ was full and CQEs waited in the kernel's overflow list (none lost), and
    // CQEs the kernel dropped for want of memory (their ops never complete).
    [[nodiscard]] std::uint64_t cq_overflows() const noexcept { return core_.cq_overflows(); }
    [[nodiscard]] std::uint32_t cqes_dropped() const noexcept { return core_.cqes_dropped(); }
    // CQEs posted by the kernel and not reaped yet (a test's view of "completed, not seen").
    [[nodiscard]] std::uint32_t cqes_ready() noexcept;
    // Registers memory for fixed-buffer ops (policies::Registered); kept until teardown.
    Result<void> register_buffers(std::span<const ::iovec> iov, std::shared_ptr<void> owner) {
        return core_.register_buffers(iov, std::move(owner));
    }
    // A sparse table of `count` registered files; events::FilesUpdate fills it, events::fixed()
    // uses it. Kept until teardown.
    Result<void> register_files(std::uint32_t count) {
        return core_.register_files(count);
    }
    // The ring's fd: the target of events::MsgRing.
    [[nodiscard]] int uring_fd() const noexcept { return core_.ring_fd(); }
    // The oldest message another ring sent here (events::MsgRing) and not taken yet. Up to
    // 4,096 wait; past that they are counted in messages_dropped(), never dereferenced.
    [[nodiscard]] std::optional<events::RingMessage> take_message() noexcept {
        return core_.take_message();
    }
    [[nodiscard]] std::uint64_t messages_dropped() const noexcept {
        return core_.messages_dropped();
    }
    // A provided-buffer ring for group `group` (policies::Provided); kept until teardown.
    Result<void> register_buf_ring(void* ring, std::uint32_t entries, std::uint16_t group,
                                   std::shared_ptr<void> owner) {
        return core_.register_buf_ring(ring, entries, group, std::move(owner));
    }
    // Whether the kernel has this IORING_OP_* (probed once; a missing op fails with
    // std::errc::operation_not_supported, or runs as its syscall where one exists).
    [[nodiscard]] bool supports(std::uint8_t opcode) const noexcept { return core_.supports(opcode); }
    [[nodiscard]] std::uint32_t setup_flags() const noexcept { return core_.setup_flags(); }
    [[nodiscard]] std::size_t spawned() const noexcept { return tasks_.size(); }

  private:
    LocalDriver() = default;
    // Which thread this is: a number no other thread ever had (not a thread_local's address,
    // which a new thread may reuse once the owner exited). Given out on first use.
    static inline thread_local constinit std::uint64_t thread_id_ = 0;
    static inline std::atomic<std::uint64_t> next_thread_id_{0};
    [[nodiscard, gnu::always_inline]] static inline std::uint64_t this_thread() noexcept {
        if (thread_id_ == 0) [[unlikely]]
            thread_id_ = next_thread_id_.fetch_add(1, std::memory_order_relaxed) + 1;
        return thread_id_;
    }
    [[nodiscard]] inline bool on_owner_thread() const noexcept { return this_thread() == owner_; }
    const std::uint64_t owner_ = this_thread();
    Liveness liveness_; // ended first in the destructor: posts to a dying driver are dropped
    detail::Uring core_;
    TaskSet tasks_;
    detail::PostedQueue posted_; // resumed at the end of a loop turn
    detail::RemoteInbox remote_; // what other threads post or cancel, taken each loop turn
    void take_remote() noexcept;
    // One loop turn; `wait_idle`: wait for a CQE even with nothing in flight (serve()).
    Result<std::uint32_t> turn(bool wait, bool wait_idle);
    static inline thread_local constinit LocalDriver* current_ = nullptr;
    std::uint32_t expected_posts_ = 0; // PostExpected alive (owner thread only)
    const std::atomic<bool>* serving_stop_ = nullptr; // serve()'s flag while it runs (owner only)
    // Drivers left alive by a foreign-thread delete, kept reachable (a list, not a lost pointer).
    static inline std::atomic<std::uint64_t> foreign_leaks_{0};
    static inline std::atomic<LocalDriver*> leaked_{nullptr};
    LocalDriver* next_leaked_ = nullptr;
};

} // namespace ringbahn::drivers
