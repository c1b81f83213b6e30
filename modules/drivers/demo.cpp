// SPDX-License-Identifier: MIT
// DemoDriver's implementation: the reaper thread and the locked Drive operations.
module;
#include <liburing.h>
#include <cerrno>
#include <coroutine>
#include <cstddef>
#include <expected>
#include <memory>
#include <mutex>
#include <new>
#include <system_error>
#include <thread>
#include <vector>
module ringbahn;

namespace ringbahn::drivers {

Result<std::unique_ptr<DemoDriver>> DemoDriver::create(DemoOptions options) {
    std::unique_ptr<DemoDriver> driver(new DemoDriver());
    // The reaper waits while others submit: no SINGLE_ISSUER / DEFER_TASKRUN here.
    if (auto opened = driver->core_.open({.entries = options.entries,
                                      .cq_entries = options.cq_entries,
                                      .hide_opcodes = options.hide_opcodes}); !opened)
        return std::unexpected(opened.error());
    try {
        driver->reaper_ = std::thread([d = driver.get()] { d->reap_loop(); });
    } catch (const std::system_error& e) {
        return std::unexpected(e.code());
    }
    return driver;
}

Result<DemoDriver*> DemoDriver::process_wide() {
    static Result<std::unique_ptr<DemoDriver>> instance = create();
    if (!instance) return std::unexpected(instance.error());
    return instance->get();
}

DemoDriver::~DemoDriver() {
    liveness_.end();
    if (reaper_.joinable()) {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
            core_.wake();
        }
        reaper_.join();
    }
    std::lock_guard loop(loop_); // a block_on still running on another thread is a caller bug
    // No thread resumes tasks now. Destroying them cancels their ops through cancel().
    tasks_.destroy_all();
    posted_.clear(); // never resumed: their frames belong to whoever owns them
    core_.drain(ready_); // the reaped, undispatched CQEs first
    ready_.clear();
}

void DemoDriver::run_until(const DoneSignal& done) {
    std::lock_guard loop(loop_);
    std::vector<detail::ReapedCqe> batch;
    while (!done.is_set()) {
        {
            std::unique_lock lock(mutex_);
            work_.wait(lock, [&] { return !ready_.empty() || !posted_.empty(); });
            batch.swap(ready_);
        }
        // Outside the lock: a resumed coroutine may submit, cancel or post.
        std::uint32_t finished = 0;
        for (const detail::ReapedCqe& cqe : batch) finished += core_.dispatch(cqe);
        batch.clear();
        std::unique_lock lock(mutex_);
        core_.settle(finished);
        core_.submit();
        // Posted resumptions, one at a time and outside the lock (they may post or submit);
        // only those posted before now (a coroutine that posts itself again waits a batch).
        for (std::size_t n = posted_.size(); n > 0 && !posted_.empty(); --n) {
            const auto h = posted_.pop();
            lock.unlock();
            h.resume();
            lock.lock();
        }
    }
}

bool DemoDriver::acquire(SlotRequest& r) noexcept {
    std::lock_guard lock(mutex_);
    if (!core_.acquire(r)) return false;
    core_.submit(); // -EBUSY: the SQEs stay queued and go out after the reaper's next batch
    return true;
}

bool DemoDriver::withdraw(SlotRequest& r) noexcept {
    std::lock_guard lock(mutex_);
    return core_.withdraw(r);
}

void DemoDriver::cancel(Completion& c) noexcept {
    std::lock_guard lock(mutex_);
    core_.cancel(c);
}

void DemoDriver::post(std::coroutine_handle<> h) noexcept {
    std::lock_guard lock(mutex_);
    posted_.push(h);
    work_.notify_one(); // the loop may be waiting
}

bool DemoDriver::unpost(std::coroutine_handle<> h) noexcept {
    std::lock_guard lock(mutex_);
    return posted_.remove(h);
}

void DemoDriver::reap_loop() noexcept {
    detail::ReapedCqe batch[64];
    for (;;) {
        ::io_uring_cqe* cqe = nullptr;
        // Only this thread consumes the CQ, so waiting needs no lock; submitters only touch
        // the SQ. The kernel flushes overflowed CQEs (IORING_FEAT_NODROP) when we wait.
        const int rc = ::io_uring_wait_cqe(&core_.ring(), &cqe);
        // -EBADR: the kernel dropped a CQE for want of memory (counted in cqes_dropped()).
        if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY && rc != -EBADR) std::terminate();
        const std::uint32_t n = core_.reap(batch);
        // Handed to the loop under the lock submitters submit under: everything they wrote
        // before submitting (the Completion, the coroutine frame) is ordered before the loop's
        // dispatch. The kernel orders it too, but the C++ memory model cannot see a syscall.
        std::lock_guard lock(mutex_);
        for (std::uint32_t i = 0; i < n; ++i) {
            if (batch[i].user_data & detail::Uring::message_tag)
                (void)core_.dispatch(batch[i]); // queued for take_message(); resumes nothing
            else
                ready_.push_back(batch[i]);
        }
        if (n) work_.notify_one();
        if (stopping_) return;
    }
}

} // namespace ringbahn::drivers
