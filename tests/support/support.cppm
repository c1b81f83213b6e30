// SPDX-License-Identifier: MIT
// ringbahn.test_support: what the tests, the fuzz targets and the load test share — one module
// instead of headers. One partition per concept:
//   :fds          Fd, Pipe, SocketPair, Listener, temp_file, fd_count, readable
//   :bytes        bytes/text, random_bytes/pattern, FNV-1a checksums, write_then_shutdown/close
//   :ops          read_some/fill_buf on a Ring, result_of one event, tick_until a count
//   :buffers      TrackedBuffer and its BufferLedger (counted frees, optional quarantine)
//   :fault_driver FaultyDriver, a Drive adapter that injects faults
// and here: Probe (an eager coroutine the test owns), make_driver, completed, asan_build.
// Catch2's macros cannot cross a module boundary: nothing here checks, it only gives values
// (the helpers that check are ringbahn.test_checks, tests/support/checks.cppm).
// Macros (AF_INET, O_CLOEXEC, IORING_*, ...) do not either: a test includes the system headers
// it names itself.
module;
#include <signal.h>

#include <coroutine>
#include <cstdint>
#include <exception>
#include <memory>
#include <utility>

export module ringbahn.test_support;

export import ringbahn;
export import :fds;
export import :bytes;
export import :ops;
export import :buffers;
export import :fault_driver;

export namespace test {

// A write to a pipe whose reader is gone raises SIGPIPE; the tests want the EPIPE instead.
// Initialised by this module's initializer, which every importer runs.
bool sigpipe_ignored = (::signal(SIGPIPE, SIG_IGN), true);

// ASan builds bypass the library's free lists (so ASan sees a use after free of them). Decided
// when this unit is compiled, with the same sanitizer flags as the tests.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool asan_build = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool asan_build = true;
#else
inline constexpr bool asan_build = false;
#endif
#else
inline constexpr bool asan_build = false;
#endif

// An eager coroutine the test owns: it runs until its first suspension when made, and
// destroying the Probe destroys the frame — the way a cancelled task goes away.
struct Probe {
    struct promise_type {
        Probe get_return_object() {
            return Probe{std::coroutine_handle<promise_type>::from_promise(*this)};
        }
        std::suspend_never initial_suspend() noexcept { return {}; }
        std::suspend_always final_suspend() noexcept { return {}; }
        void return_void() noexcept {}
        void unhandled_exception() noexcept { std::terminate(); }
    };
    explicit Probe(std::coroutine_handle<promise_type> h) : handle(h) {}
    Probe(Probe&& o) noexcept : handle(std::exchange(o.handle, {})) {}
    Probe& operator=(Probe&& o) noexcept {
        if (this != &o) {
            reset();
            handle = std::exchange(o.handle, {});
        }
        return *this;
    }
    ~Probe() { reset(); }
    void reset() {
        if (handle) std::exchange(handle, {}).destroy();
    }
    std::coroutine_handle<promise_type> handle;
};

// A LocalDriver or a DemoDriver with `entries` SQ entries (its factory's default otherwise).
template <class D>
std::unique_ptr<D> make_driver(std::uint32_t entries = 64) {
    return D::create({.entries = entries}).value();
}

// Submits one event on d and gives back its output (OutputOf<E>: usually the event and its result).
template <class D, class E>
ringbahn::Task<ringbahn::OutputOf<E>> completed(D& d, E e) {
    co_return co_await ringbahn::submit(d, std::move(e));
}

} // namespace test
