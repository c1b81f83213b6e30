// SPDX-License-Identifier: MIT
// Runtime's implementation: starting the cores, serving them, stopping them in step.
module;
#include <pthread.h>
#include <sched.h>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <exception>
#include <expected>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <vector>
module ringbahn;

namespace ringbahn {

namespace {
// The CPUs this process may run on, in order.
std::vector<unsigned> allowed_cpus() {
    std::vector<unsigned> cpus;
    ::cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) == 0)
        for (unsigned i = 0; i < CPU_SETSIZE; ++i)
            if (CPU_ISSET(i, &set)) cpus.push_back(i);
    if (cpus.empty()) cpus.push_back(0);
    return cpus;
}
} // namespace

Runtime::Runtime(unsigned count) {
    cores_.reserve(count);
    for (unsigned i = 0; i < count; ++i) {
        cores_.push_back(std::make_unique<detail::RuntimeCore>());
        cores_.back()->index = i;
    }
}

Result<std::unique_ptr<Runtime>> Runtime::create(RuntimeOptions options) {
    const auto cpus = allowed_cpus();
    const unsigned count = options.cores ? options.cores : static_cast<unsigned>(cpus.size());
    if (count > 4096) return std::unexpected(errno_code(EINVAL)); // a typo, not a machine
    std::unique_ptr<Runtime> rt(new Runtime(count));
    rt->options_ = std::move(options);
    unsigned started = 0;
    try {
        for (; started < count; ++started) {
            auto& core = *rt->cores_[started];
            core.thread = std::thread([rtp = rt.get(), &core, cpu = cpus[started % cpus.size()]] {
                rtp->serve_core(core, cpu);
            });
        }
    } catch (const std::system_error& e) { // no thread: the ones started stop, and we say why
        std::lock_guard lock(rt->stop_mutex_);
        for (unsigned i = started; i < count; ++i) {
            rt->cores_[i]->failed = e.code();
            rt->cores_[i]->absent = true; // no loop to leave, no turn to take
        }
        rt->left_loop_ += count - started;
        rt->ready_ += count - started;
    }
    {
        std::unique_lock lock(rt->stop_mutex_);
        rt->stop_changed_.wait(lock, [&] { return rt->ready_ == count; });
    }
    for (const auto& core : rt->cores_)
        if (core->failed) {
            const auto why = core->failed;
            rt->stop();
            return std::unexpected(why);
        }
    return rt;
}

void Runtime::serve_core(detail::RuntimeCore& core, unsigned cpu) {
    if (options_.pin) {
        ::cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        if (int rc = ::pthread_setaffinity_np(::pthread_self(), sizeof set, &set); rc != 0)
            core.failed = errno_code(rc);
    }
    std::unique_ptr<drivers::LocalDriver> driver;
    if (!core.failed) {
        if (auto made = drivers::LocalDriver::create(options_.driver))
            driver = std::move(*made);
        else
            core.failed = made.error();
    }
    if (driver) {
        std::lock_guard lock(core.mutex);
        core.driver = driver.get();
    }
    current_runtime_ = this;
    current_core_ = core.index;
    {
        std::lock_guard lock(stop_mutex_);
        ++ready_;
        stop_changed_.notify_all();
    }
    if (driver)
        if (auto served = driver->serve(core.stop); !served) {
            // The ring cannot wait any more (io_uring_enter failed hard): a core that silently
            // stopped serving would leave its tasks hanging and take new ones. The whole
            // runtime stops instead, and run() answers with this error.
            {
                std::lock_guard lock(stop_mutex_);
                if (!failure_) failure_ = served.error();
            }
            stop(); // on a core: asks every core to stop and returns
        }
    stop_in_turn(core);
    // Nobody reaches the driver from here on: spawn_on and switch_to find no driver.
    {
        std::lock_guard lock(core.mutex);
        core.driver = nullptr;
    }
    driver.reset(); // the Drive contract's teardown: cancels, reaps, closes the ring
    current_runtime_ = nullptr;
}

// Steps 1 and 2 of the stop: wait until every core left its loop — so no task is resumed
// anywhere while tasks are destroyed — then destroy this core's tasks in core order, one core
// at a time (a task destroyed here may withdraw from, or cancel on, another core's driver).
void Runtime::stop_in_turn(detail::RuntimeCore& core) {
    std::unique_lock lock(stop_mutex_);
    ++left_loop_;
    stop_changed_.notify_all();
    // Cores whose thread never started have no turn to take: skip them.
    auto turn_of = [&] {
        while (destroyed_tasks_ < cores() && cores_[destroyed_tasks_]->absent)
            ++destroyed_tasks_;
        return destroyed_tasks_;
    };
    stop_changed_.wait(lock, [&] { return left_loop_ == cores() && turn_of() == core.index; });
    lock.unlock();
    if (auto* d = core.driver) d->destroy_tasks(); // only this thread clears core.driver
    lock.lock();
    ++destroyed_tasks_;
    stop_changed_.notify_all();
    stop_changed_.wait(lock, [&] { return turn_of() == cores(); });
}

Runtime::~Runtime() {
    if (current_runtime_ == this) std::terminate(); // a core cannot wait for, nor free, itself
    stop();
}

void Runtime::stop() noexcept {
    std::call_once(stop_asked_, [this] {
        for (auto& core : cores_) {
            std::lock_guard lock(core->mutex);
            core->stop.store(true, std::memory_order_release);
            if (core->driver) core->driver->wake(); // on this core's own thread: a no-op
        }
    });
    if (current_runtime_ == this) return; // a core: its loop sees the flag when the task suspends
    std::call_once(stop_joined_, [this] {
        for (auto& core : cores_)
            if (core->thread.joinable()) core->thread.join();
    });
}

Result<void> Runtime::spawn_on(unsigned index, Task<void> task) {
    if (index >= cores() || !task.valid()) return std::unexpected(errno_code(EINVAL));
    auto& core = *cores_[index];
    if (current_runtime_ == this && current_core_ == index) {
        // On the core itself: its driver is alive while its thread runs (no lock needed). The
        // task starts at once, as a call would — unless spawns started this way are already
        // nested max_inline_spawns deep (a chain of them would grow the stack without bound), or
        // a loop nested on the core (block_on) runs us (the task must start under the core's
        // driver): then it starts at the core's next turn.
        if (core.driver == nullptr || core.stop.load(std::memory_order_acquire))
            return std::unexpected(errno_code(ESHUTDOWN));
        if (inline_spawns_ < max_inline_spawns && drivers::LocalDriver::current() == core.driver) {
            struct Nested {
                Nested() noexcept { ++inline_spawns_; }
                ~Nested() { --inline_spawns_; }
            } nested;
            core.driver->spawn(std::move(task));
        } else {
            core.driver->spawn_later(std::move(task));
        }
        return {};
    }
    std::lock_guard lock(core.mutex);
    if (core.driver == nullptr || core.stop.load(std::memory_order_acquire))
        return std::unexpected(errno_code(ESHUTDOWN)); // `task` is destroyed unstarted
    core.driver->spawn_later(std::move(task)); // its remote inbox, and a MSG_RING wake-up
    return {};
}

unsigned Runtime::pick(Placement how) noexcept {
    if (how == Placement::round_robin)
        return next_core_.fetch_add(1, std::memory_order_relaxed) % cores();
    unsigned best = 0;
    std::size_t least = static_cast<std::size_t>(-1);
    for (unsigned c = 0; c < cores(); ++c)
        if (const std::size_t l = load(c); l < least) least = l, best = c;
    return best;
}

std::size_t Runtime::load(unsigned index) noexcept {
    if (index >= cores()) return 0;
    auto& core = *cores_[index];
    std::lock_guard lock(core.mutex); // the driver is not destroyed while we ask it
    return core.driver ? core.driver->spawned() : 0;
}

std::error_code Runtime::failure() noexcept {
    std::lock_guard lock(stop_mutex_);
    return failure_;
}

std::optional<unsigned> Runtime::current_core() const noexcept {
    if (current_runtime_ == this) return current_core_;
    return std::nullopt;
}

} // namespace ringbahn
