// SPDX-License-Identifier: MIT
// ringbahn:drivers.demo — the demo driver: one ring, submissions under a lock, a reaper thread.
module;
#include <sys/uio.h>
#include <condition_variable>
#include <coroutine>
#include <cstdint>
#include <memory>
#include <optional>
#include <mutex>
#include <span>
#include <thread>
#include <vector>
export module ringbahn:drivers.demo;
import :protocol.completion;
import :detail.posted_queue;
import :detail.uring;
import :drive.drive;
import :drive.done_signal;
import :protocol.error;
import :events.msg_ring;
import :protocol.slot_request;
import :await.submission;
import :tasks.task;
import :tasks.task_set;

namespace ringbahn::drivers {

export struct DemoOptions {
    std::uint32_t entries = 256;  // SQ entries; ops in flight are not limited by it
    std::uint32_t cq_entries = 0; // 0 = 16 × entries; more CQEs wait in the kernel's overflow list
    std::vector<std::uint8_t> hide_opcodes{}; // test seam: act as if the kernel lacked them
};

// Simple and correct, not fast: every submission takes a mutex and enters the kernel, and a
// background thread waits for CQEs and reaps them as they come (the CQ never fills, however long
// the program is busy elsewhere). It never resumes a coroutine: it hands the CQEs to the
// driver's loop — run_until(), i.e. block_on() — and the thread running that loop completes
// them and resumes their coroutines. So a coroutine on this driver runs only on the thread that
// runs the loop (one thread at a time; another thread's block_on waits its turn), and a thread
// may destroy a suspended coroutine whenever it is that thread, or while no thread runs the
// loop: nothing else can be resuming the frame. Other threads reach the driver through post().
export class DemoDriver : public Submitter {
  public:
    // Sets up the ring (-EPERM, -ENOSYS, -ENOMEM come back as errors) and starts the reaper.
    [[nodiscard]] static Result<std::unique_ptr<DemoDriver>> create(DemoOptions options = {});

    // One process-wide driver with default options, created on first use (the seed's model).
    [[nodiscard]] static Result<DemoDriver*> process_wide();

    DemoDriver(const DemoDriver&) = delete;
    DemoDriver& operator=(const DemoDriver&) = delete;
    // Teardown as in the Drive contract: stop the reaper, destroy spawned tasks, cancel and
    // reap everything in flight, then close the ring.
    ~DemoDriver();

    // Drive
    bool acquire(SlotRequest& r) noexcept;
    bool withdraw(SlotRequest& r) noexcept;
    void cancel(Completion& c) noexcept;
    void post(std::coroutine_handle<> h) noexcept;
    bool unpost(std::coroutine_handle<> h) noexcept;
    [[nodiscard]] inline const Liveness& liveness() const noexcept { return liveness_; }
    // The loop: completes the CQEs the reaper handed over and runs posted coroutines, on this
    // thread, until `done` is set. One thread at a time.
    void run_until(const DoneSignal& done);
    void spawn(Task<void> task) { tasks_.spawn(std::move(task)); }

    // Registers memory for fixed-buffer ops (policies::Registered); kept until teardown.
    Result<void> register_buffers(std::span<const ::iovec> iov, std::shared_ptr<void> owner) {
        std::lock_guard lock(mutex_);
        return core_.register_buffers(iov, std::move(owner));
    }
    // A sparse table of `count` registered files; events::FilesUpdate fills it, events::fixed()
    // uses it. Kept until teardown.
    Result<void> register_files(std::uint32_t count) {
        std::lock_guard lock(mutex_);
        return core_.register_files(count);
    }
    // The ring's fd: the target of events::MsgRing.
    [[nodiscard]] int uring_fd() noexcept { return core_.ring().ring_fd; }
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
        std::lock_guard lock(mutex_);
        return core_.register_buf_ring(ring, entries, group, std::move(owner));
    }
    // Whether the kernel has this IORING_OP_* (probed once; a missing op fails with
    // std::errc::operation_not_supported, or runs as its syscall where one exists).
    [[nodiscard]] bool supports(std::uint8_t opcode) const noexcept { return core_.supports(opcode); }
    [[nodiscard]] std::uint32_t setup_flags() const noexcept { return core_.setup_flags(); }
    [[nodiscard]] std::size_t spawned() const noexcept { return tasks_.size(); }
    // Ops and cancels whose CQE has not been dispatched yet (no limit: memory bounds it).
    [[nodiscard]] std::uint32_t in_flight() {
        std::lock_guard lock(mutex_);
        return core_.in_flight();
    }
    // Times the CQ was full and CQEs waited in the kernel's overflow list (none lost), and
    // CQEs the kernel dropped for want of memory (their ops never complete).
    [[nodiscard]] std::uint64_t cq_overflows() const noexcept { return core_.cq_overflows(); }
    [[nodiscard]] std::uint32_t cqes_dropped() const noexcept { return core_.cqes_dropped(); }

  private:
    DemoDriver() = default;
    void reap_loop() noexcept;

    std::mutex mutex_; // guards core_ (but its dispatch), ready_, posted_ and stopping_
    std::condition_variable work_; // ready_ or posted_ got something
    std::mutex loop_;  // held by the thread running the loop
    std::vector<detail::ReapedCqe> ready_; // reaped by the reaper, not dispatched yet
    Liveness liveness_; // ended first in the destructor: posts to a dying driver are dropped
    detail::Uring core_;
    TaskSet tasks_;
    bool stopping_ = false;
    detail::PostedQueue posted_; // resumed by the loop after each batch
    std::thread reaper_;
};

} // namespace ringbahn::drivers
