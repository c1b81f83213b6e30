// SPDX-License-Identifier: MIT
// LocalDriver's implementation: the loop turn.
module;
#include <liburing.h>
#include <cerrno>
#include <coroutine>
#include <cstddef>
#include <expected>
#include <exception>
#include <memory>
#include <new>
#include <system_error>
#include <utility>
#include <atomic>
module ringbahn;

namespace ringbahn::drivers {

Result<std::unique_ptr<LocalDriver>> LocalDriver::create(LocalOptions options) {
    std::unique_ptr<LocalDriver> driver(new LocalDriver());
    // DEFER_TASKRUN where the kernel has it; COOP_TASKRUN (no IPIs to interrupt us) is what
    // remains on 5.19–6.0, and what SQPOLL can use (DEFER_TASKRUN excludes SQPOLL).
    std::uint32_t flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SINGLE_ISSUER;
    if (options.defer_taskrun && !options.sqpoll) flags |= IORING_SETUP_DEFER_TASKRUN;
    if (!options.defer_taskrun) flags &= ~IORING_SETUP_COOP_TASKRUN; // CQEs posted at once
    if (options.sqpoll) flags |= IORING_SETUP_SQPOLL;
    auto opened = driver->core_.open({.entries = options.entries,
                                      .cq_entries = options.cq_entries,
                                      .setup_flags = flags,
                                      .sq_thread_idle_ms = options.sqpoll_idle_ms,
                                      .faults = {options.faults.before_submit,
                                                 options.faults.before_wait, options.faults.ctx},
                                      .exclusive = true,
                                      .hide_opcodes = options.hide_opcodes});
    if (!opened) return std::unexpected(opened.error());
    // Other threads' wake-ups go out through a ring made now: never an fd to find later.
    if (int rc = driver->remote_.open(driver->liveness_.id()); rc < 0) return std::unexpected(errno_code(-rc));
    return driver;
}

void LocalDriver::operator delete(LocalDriver* self, std::destroying_delete_t) noexcept {
    if (!self->on_owner_thread() && self->core_.in_flight() > 0) {
        self->liveness_.end(); // posts to it are dropped from now on
        foreign_leaks_.fetch_add(1, std::memory_order_relaxed);
        self->next_leaked_ = leaked_.load(std::memory_order_relaxed);
        while (!leaked_.compare_exchange_weak(self->next_leaked_, self, std::memory_order_release)) {}
        return;
    }
    self->~LocalDriver();
    ::operator delete(self);
}

LocalDriver::~LocalDriver() {
    liveness_.end();
    tasks_.destroy_all();
    posted_.clear(); // never resumed: their frames belong to whoever owns them
    // Cancels other threads asked for go out (the drain reaps their CQEs); their posts, like
    // ours, are never resumed.
    remote_.drain([](std::coroutine_handle<>) noexcept {}, [this](Completion& c) noexcept { core_.cancel(c); },
                  [](Task<void>) noexcept {}); // spawned from elsewhere, never started: destroyed
    core_.drain();
}



Result<std::uint32_t> LocalDriver::turn(bool wait, bool wait_idle) {
    if (!on_owner_thread()) [[unlikely]]
        return std::unexpected(errno_code(EPERM));
    Entered entered(this); // coroutines resumed in this turn find their driver (loops may nest)
    ::io_uring& ring = core_.ring();
    if (core_.has_waiters()) {
        // Requests parked for SQ space: submitting frees the SQ, so grant them before any
        // wait — the ops in flight may be waiting on exactly these.
        core_.submit();
        core_.settle(0);
    }
    if (remote_.pending()) [[unlikely]]
        take_remote();
    // Asleep only once the inbox knows: other threads send a wake-up only to a sleeping owner.
    const bool block = wait && (wait_idle || core_.in_flight() > 0) && posted_.empty() &&
                       remote_.may_sleep();
    // One enter: submit the turn's SQEs and, with DEFER_TASKRUN, run the deferred completions.
    const auto& faults = core_.faults();
    int rc = faults.before_wait ? faults.before_wait(faults.ctx) : 0;
    if (rc == 0)
        rc = block ? ::io_uring_submit_and_wait(&ring, 1) : ::io_uring_submit_and_get_events(&ring);
    if (block) remote_.woke();
    if (rc == -EBUSY || rc == -EAGAIN || rc == -EBADR) {
        // CQ backlog: reap first; the SQEs stay queued for the next turn. (-EBADR: the kernel
        // dropped a CQE for want of memory; counted in cqes_dropped().)
    } else if (rc < 0 && rc != -EINTR && rc != -ETIME) {
        // The ring itself is unusable (EBADF, EFAULT): say so; nothing was reaped.
        return std::unexpected(errno_code(-rc));
    }
    std::uint32_t handled = core_.reap_and_dispatch();
    if (remote_.pending()) [[unlikely]]
        take_remote(); // woken by another thread (its MSG_RING's CQE is dispatched as nothing)
    // Posted resumptions last, one at a time: each may unpost (destroy) a later one. Only those
    // posted before now: one that posts itself again (a yield) runs next turn, after the CQEs.
    for (std::size_t n = posted_.size(); n > 0 && !posted_.empty(); --n) {
        posted_.pop().resume();
        ++handled;
    }
    return handled;
}

void LocalDriver::take_remote() noexcept {
    remote_.drain([this](std::coroutine_handle<> h) noexcept { posted_.push(h); },
                  [this](Completion& c) noexcept { core_.cancel(c); },
                  // A task's start runs its body: it may throw (std::bad_alloc) — a spawned
                  // task's exceptions end the program, as TaskSet's own do.
                  [this](Task<void> t) noexcept { tasks_.spawn(std::move(t)); });
}

Result<void> LocalDriver::serve(const std::atomic<bool>& stop) {
    if (!on_owner_thread()) [[unlikely]]
        return std::unexpected(errno_code(EPERM));
    // Loops nested in this one (run_until) see the flag too.
    struct Serving {
        LocalDriver& d;
        const std::atomic<bool>* saved;
        ~Serving() { d.serving_stop_ = saved; }
    } serving{*this, std::exchange(serving_stop_, &stop)};
    while (!stop.load(std::memory_order_acquire))
        if (auto t = turn(true, true); !t) return std::unexpected(t.error());
    return {};
}

std::uint32_t LocalDriver::cqes_ready() noexcept { return ::io_uring_cq_ready(&core_.ring()); }

Result<void> LocalDriver::run_until(const DoneSignal& done) {
    while (!done.is_set()) {
        // A core stopping (Runtime::stop wakes this driver after setting the flag).
        if (serving_stop_ && serving_stop_->load(std::memory_order_acquire)) [[unlikely]]
            return std::unexpected(errno_code(ESHUTDOWN));
        // A wake-up another thread promised (PostExpected) is worth waiting for in the kernel.
        if (auto t = turn(true, expected_posts_ > 0); !t) return std::unexpected(t.error());
        // Nothing in flight, nothing promised, and not done: the task waits on something no
        // CQE of this single-threaded driver can bring. Waiting would hang forever.
        if (!done.is_set() && core_.in_flight() == 0 && posted_.empty() && !remote_.pending() &&
            expected_posts_ == 0)
            return std::unexpected(errno_code(EDEADLK));
    }
    return {};
}

} // namespace ringbahn::drivers
