// SPDX-License-Identifier: MIT
// ringbahn:runtime.runtime — thread per core: one LocalDriver per thread, and the ways between them.
module;
#include <atomic>
#include <condition_variable>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <expected>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>
export module ringbahn:runtime.runtime;
import :protocol.error;
import :drive.done_signal;
import :drive.poster;
import :drivers.local;
import :tasks.task;
import :tasks.block_on; // detail::IsResult

namespace ringbahn {

// Where the next piece of work goes (Runtime::pick): in turn, or to the core with the fewest
// tasks alive.
export enum class Placement { round_robin, least_loaded };

export struct RuntimeOptions {
    // 0 = one core per CPU this process may run on (sched_getaffinity).
    unsigned cores = 0;
    // Pin core i to the i-th CPU this process may run on (modulo their count).
    bool pin = false;
    // Each core's driver.
    drivers::LocalOptions driver{};
};

namespace detail {
// One core: its thread, and the driver other threads reach it through. `driver` is set once the
// thread made it and cleared (under `mutex`) before the thread destroys it, so nobody posts to
// a driver that is gone.
struct RuntimeCore {
    unsigned index = 0;
    std::thread thread;
    std::mutex mutex;
    drivers::LocalDriver* driver = nullptr;
    std::atomic<bool> stop{false};
    std::error_code failed; // why its thread could not serve (written before it is ready)
    bool absent = false; // its thread could not start (guarded by Runtime::stop_mutex_)
};
} // namespace detail

// A thread-per-core runtime. Each core is a thread that owns one LocalDriver and serves it
// (LocalDriver::serve): its tasks, its ops, its CQEs — nothing on the per-op path is shared
// or locked. Cores reach each other only through a driver's remote inbox, woken by an
// IORING_OP_MSG_RING from the sender's own ring: spawn_on starts a task on another core,
// switch_to moves the awaiting coroutine there, and Channel<T> carries values between them.
//
// Stopping (stop() or the destructor), in this order: every core leaves its loop (nothing is
// resumed from then on); each core in turn destroys the tasks it owns (their awaiters cancel
// their ops, on whichever core they wait); then every core tears its driver down as the Drive
// contract says (cancels sent, CQEs reaped, ring closed). A task spawned on a stopping core is
// destroyed unstarted; a coroutine switching to one is not moved (ESHUTDOWN).
export class Runtime {
  public:
    [[nodiscard]] static Result<std::unique_ptr<Runtime>> create(RuntimeOptions options = {});
    Runtime(const Runtime&) = delete;
    Runtime& operator=(const Runtime&) = delete;
    // stop(), and waits for every core's thread. On one of this runtime's own cores it cannot
    // (it would wait for itself, and free what that thread still runs on): it then ends the
    // program, as a std::thread joining itself does.
    ~Runtime();

    [[nodiscard]] unsigned cores() const noexcept { return static_cast<unsigned>(cores_.size()); }

    // Starts `task` on `core` at that core's next loop turn; called on that core, at once (up to
    // its first suspension) unless that would nest more than 16 spawns deep or run it under a
    // loop nested on the core — then at the next turn too, so a chain of spawns does not grow
    // the stack. EINVAL for a core that does not exist or a moved-from
    // task, ESHUTDOWN once the runtime is stopping (the task is destroyed unstarted).
    Result<void> spawn_on(unsigned core, Task<void> task);

    // Runs `main` on core 0 and waits for it on this thread: its value, or its exception
    // rethrown. If the runtime stops first, `main` is destroyed unfinished and the answer is
    // ESHUTDOWN (or, when a core failed, failure()); called on one of the runtime's own cores (it would wait for itself), EDEADLK
    // and `main` is destroyed unstarted — the Result's error, or thrown as std::system_error.
    template <class T>
    T run(Task<T> main);

    // `co_await rt.switch_to(core)`: the coroutine continues on `core`'s thread (at that core's
    // next loop turn), and its ops from then on go to that core's driver. Result<void>: EINVAL
    // for a core that does not exist, ESHUTDOWN when it is stopping, EPERM for a coroutine not
    // run by one of this runtime's cores (the coroutine stays where it was). Once moved, a coroutine must not be destroyed from another core until the
    // runtime stops (a task's owner destroys it only at stop, after every loop ended).
    class SwitchTo;
    [[nodiscard]] SwitchTo switch_to(unsigned core) noexcept;

    // A core for the next piece of work — an accepted connection handed on with
    // `spawn_on(rt.pick(), serve(std::move(conn)))`: the task owns the connection, so one
    // handed to a core that is stopping is closed with the unstarted task, never leaked.
    [[nodiscard]] unsigned pick(Placement how = Placement::round_robin) noexcept;
    // Tasks alive on `core` (spawned there, not finished): what least_loaded compares. 0 for a
    // core that does not exist or has stopped.
    [[nodiscard]] std::size_t load(unsigned core) noexcept;

    // The core this thread serves, if it is one of this runtime's.
    [[nodiscard]] std::optional<unsigned> current_core() const noexcept;
    // Why the runtime stopped on its own: a core whose kernel wait failed hard (its ring
    // unusable) stops every core, and this says why. Empty while it runs, or stopped by stop().
    [[nodiscard]] std::error_code failure() noexcept;

    // The driver whose loop runs this thread's coroutine (nullptr on other threads): a core's
    // own, or a loop nested on it (block_on) — where a coroutine submits its ops.
    [[nodiscard]] static drivers::LocalDriver* here() noexcept { return drivers::LocalDriver::current(); }

    // Stops every core (see above) and waits for their threads. Idempotent, from any thread;
    // called on one of the runtime's cores (a task stopping its runtime) it only asks them to
    // stop and returns: the cores stop once that task suspends, and the destructor waits.
    void stop() noexcept;

  private:
    explicit Runtime(unsigned count);
    void serve_core(detail::RuntimeCore& core, unsigned cpu);
    void stop_in_turn(detail::RuntimeCore& core);

    RuntimeOptions options_;
    std::vector<std::unique_ptr<detail::RuntimeCore>> cores_;
    // The stop sequence's steps: cores that left their loop; whose turn it is to destroy its
    // tasks; cores done with that step.
    std::mutex stop_mutex_;
    std::condition_variable stop_changed_;
    unsigned ready_ = 0; // cores that made their driver (or failed to)
    unsigned left_loop_ = 0;
    unsigned destroyed_tasks_ = 0;
    std::error_code failure_; // the first core's hard failure (guarded by stop_mutex_)
    std::once_flag stop_asked_, stop_joined_;
    std::atomic<unsigned> next_core_{0};
    static inline thread_local constinit Runtime* current_runtime_ = nullptr;
    static inline thread_local constinit unsigned current_core_ = 0;
    // Own-core spawns started at once and not yet suspended, nested (see spawn_on).
    static constexpr unsigned max_inline_spawns = 16;
    static inline thread_local constinit unsigned inline_spawns_ = 0;
};

class Runtime::SwitchTo {
  public:
    SwitchTo(Runtime& rt, unsigned core) noexcept : rt_(&rt), core_(core) {}
    SwitchTo(const SwitchTo&) = delete;
    SwitchTo& operator=(const SwitchTo&) = delete;
    // Destroyed while posted and not resumed (its frame destroyed on the core it was going to,
    // or on its own when it switched to itself): the driver forgets it, so nothing resumes a
    // dead frame.
    ~SwitchTo() {
        if (posted_) posted_->unpost(handle_);
    }
    bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> h) noexcept {
        if (core_ >= rt_->cores()) {
            result_ = std::unexpected(errno_code(EINVAL));
            return false;
        }
        // Only a coroutine the runtime runs may move: one its core's own loop resumed. Another
        // (a block_on task, a nested loop's) has an owner elsewhere that may destroy it while
        // it runs on the core: EPERM — call_on or spawn_on reach a core from there.
        if (rt_->current_runtime_ != rt_ ||
            drivers::LocalDriver::current() != rt_->cores_[current_core_]->driver) {
            result_ = std::unexpected(errno_code(EPERM));
            return false;
        }
        auto& core = *rt_->cores_[core_];
        std::lock_guard lock(core.mutex);
        if (core.driver == nullptr || core.stop.load(std::memory_order_acquire)) {
            result_ = std::unexpected(errno_code(ESHUTDOWN));
            return false;
        }
        handle_ = h;
        posted_.emplace(*core.driver);
        core.driver->post(h); // another core: its remote inbox and a MSG_RING; this one: next turn
        return true;
    }
    Result<void> await_resume() noexcept {
        posted_.reset();
        return result_;
    }

  private:
    Runtime* rt_;
    unsigned core_;
    Result<void> result_{};
    std::coroutine_handle<> handle_;
    std::optional<Poster> posted_; // where h waits to be resumed
};

inline Runtime::SwitchTo Runtime::switch_to(unsigned core) noexcept { return SwitchTo(*this, core); }

namespace detail {
// Where run() finds main's outcome. The wrapper's frame holds a Signal as a parameter, so done
// is set however the frame ends — finished, destroyed mid-way, or destroyed unstarted.
template <class T>
struct MainOutcome {
    DoneSignal done;
    std::optional<std::conditional_t<std::is_void_v<T>, std::monostate, T>> value;
    std::exception_ptr error;

    struct Signal {
        MainOutcome* out;
        explicit Signal(MainOutcome* o) noexcept : out(o) {}
        Signal(Signal&& o) noexcept : out(std::exchange(o.out, nullptr)) {}
        ~Signal() {
            if (out) out->done.set(); // the last touch of *out
        }
    };
};

template <class T>
Task<void> run_main(Task<T> main, typename MainOutcome<T>::Signal signal) {
    MainOutcome<T>* out = signal.out;
    try {
        if constexpr (std::is_void_v<T>) {
            co_await std::move(main);
            out->value.emplace();
        } else {
            out->value.emplace(co_await std::move(main));
        }
    } catch (...) {
        out->error = std::current_exception();
    }
}

} // namespace detail

template <class T>
T Runtime::run(Task<T> main) {
    detail::MainOutcome<T> out;
    auto wrapper = detail::run_main<T>(std::move(main), typename detail::MainOutcome<T>::Signal(&out));
    auto started = current_runtime_ == this ? Result<void>(std::unexpected(errno_code(EDEADLK)))
                                            : spawn_on(0, std::move(wrapper));
    if (!started) [[maybe_unused]] auto dropped = std::move(wrapper); // destroyed unstarted: done set
    out.done.wait(); // set when the wrapper's frame ends, however
    if (out.error) std::rethrow_exception(out.error);
    if (out.value) {
        if constexpr (!std::is_void_v<T>) return std::move(*out.value);
        else return;
    }
    auto why = started ? failure() : started.error();
    if (!why) why = errno_code(ESHUTDOWN);
    if constexpr (detail::IsResult<T>::value)
        return T(std::unexpected(why));
    else
        throw std::system_error(why, "Runtime::run");
}

} // namespace ringbahn
