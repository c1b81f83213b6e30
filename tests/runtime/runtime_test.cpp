// SPDX-License-Identifier: MIT
// Runtime: tasks run on the core they were sent to, coroutines move between cores, and a stop
// with work everywhere destroys every task, cancels every op and frees every buffer.
#include <catch2/catch_test_macros.hpp>

#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <vector>

#include "root.hpp"

import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using namespace std::chrono_literals;

namespace {

// Catch2 is not thread-safe: coroutines that run on several cores at once count instead of
// asserting; one that runs while the others wait (run()'s main, a single hopper) asserts.

// Counts frames alive: constructed in a coroutine's frame, gone when the frame is destroyed.
struct Alive {
    std::atomic<int>* count;
    explicit Alive(std::atomic<int>& c) : count(&c) { ++*count; }
    Alive(const Alive&) = delete;
    ~Alive() { --*count; }
};

Task<int> answer(Runtime& rt) {
    REQUIRE(rt.current_core() == std::optional<unsigned>(0));
    auto [nop, r] = co_await Runtime::here()->submit(events::Nop{});
    REQUIRE(r.has_value());
    co_return 42;
}

Task<void> note_where(Runtime& rt, std::mutex& m, std::vector<std::pair<unsigned, std::thread::id>>& seen,
                      std::atomic<int>& done) {
    {
        std::lock_guard lock(m);
        seen.emplace_back(rt.current_core().value(), std::this_thread::get_id());
    }
    // No Catch2 assertion here: cores run at once, and Catch2 is not thread-safe.
    auto [nop, r] = co_await Runtime::here()->submit(events::Nop{});
    if (r) ++done;
    co_return;
}

Task<void> hop(Runtime& rt, std::vector<std::pair<std::optional<unsigned>, std::thread::id>>& trail) {
    for (unsigned step = 0; step < 2 * rt.cores() + 1; ++step) {
        const unsigned to = step % rt.cores();
        auto moved = co_await rt.switch_to(to);
        REQUIRE(moved.has_value());
        trail.emplace_back(rt.current_core(), std::this_thread::get_id());
        // Ops after the move go to the new core's driver, from its thread.
        auto [nop, r] = co_await Runtime::here()->submit(events::Nop{});
        REQUIRE(r.has_value());
    }
}

Task<void> refused_moves(Runtime& rt) {
    auto r = co_await rt.switch_to(rt.cores());
    CHECK((!r && r.error() == std::errc::invalid_argument));
    CHECK(rt.current_core() == std::optional<unsigned>(0)); // not moved
}

Task<void> throws_on_core() {
    co_await std::suspend_never{};
    throw std::runtime_error("main failed");
}

// Waits for ever on an empty pipe, with a buffer the ledger counts, after moving to `core`.
Task<void> stuck_read(Runtime& rt, unsigned core, int fd, test::BufferLedger& frees, std::atomic<int>& alive,
                      std::atomic<int>& waiting) {
    Alive a(alive);
    if (core != rt.current_core()) (void)co_await rt.switch_to(core);
    ++waiting;
    auto [read, r] = co_await Runtime::here()->submit(events::Read<test::TrackedBuffer>{fd, test::TrackedBuffer(64, frees)});
    FAIL("a read of an empty pipe finished: " << (r ? 0 : r.error().value()));
}

Task<void> forever(Runtime& rt, std::atomic<int>& alive) {
    Alive a(alive);
    for (;;) co_await Runtime::here()->submit(events::Timeout(1h));
}

} // namespace

TEST_CASE("run() gives main's value, run on core 0 with its own driver", "[runtime]") {
    auto rt = Runtime::create({.cores = 2}).value();
    CHECK(rt->cores() == 2u);
    CHECK(rt->run(answer(*rt)) == 42);
    CHECK(!rt->current_core()); // this thread serves no core
    CHECK(Runtime::here() == nullptr);
}

TEST_CASE("run() rethrows main's exception", "[runtime]") {
    auto rt = Runtime::create({.cores = 1}).value();
    CHECK_THROWS_AS(rt->run(throws_on_core()), std::runtime_error);
}

TEST_CASE("spawn_on runs each task on its core's own thread", "[runtime]") {
    auto rt = Runtime::create({.cores = 3}).value();
    std::mutex m;
    std::vector<std::pair<unsigned, std::thread::id>> seen;
    std::atomic<int> done{0};
    constexpr int per_core = 50;
    for (int i = 0; i < per_core; ++i)
        for (unsigned c = 0; c < rt->cores(); ++c) REQUIRE(rt->spawn_on(c, note_where(*rt, m, seen, done)));
    for (auto until = std::chrono::steady_clock::now() + 10s;
         done.load() < per_core * 3 && std::chrono::steady_clock::now() < until;)
        std::this_thread::sleep_for(1ms);
    REQUIRE(done.load() == per_core * 3);
    std::lock_guard lock(m);
    std::vector<std::set<std::thread::id>> threads(rt->cores());
    std::vector<int> counts(rt->cores());
    for (auto [core, id] : seen) {
        threads[core].insert(id);
        ++counts[core];
    }
    for (unsigned c = 0; c < rt->cores(); ++c) {
        CHECK(counts[c] == per_core);
        CHECK(threads[c].size() == 1u); // one thread per core…
        CHECK(!threads[c].contains(std::this_thread::get_id()));
    }
    CHECK(*threads[0].begin() != *threads[1].begin()); // …and a different one for each
    CHECK(*threads[1].begin() != *threads[2].begin());
    CHECK(!rt->spawn_on(3, note_where(*rt, m, seen, done)));
}

TEST_CASE("switch_to moves a coroutine to another core's thread and driver", "[runtime]") {
    auto rt = Runtime::create({.cores = 2}).value();
    std::vector<std::pair<std::optional<unsigned>, std::thread::id>> trail;
    rt->run(hop(*rt, trail));
    REQUIRE(trail.size() == 5u);
    for (std::size_t i = 0; i < trail.size(); ++i) CHECK(trail[i].first == std::optional<unsigned>(i % 2));
    CHECK(trail[0].second != trail[1].second);
    CHECK(trail[0].second == trail[2].second);
    rt->run(refused_moves(*rt));
}

TEST_CASE("stopping with reads waiting on every core frees every task, op and buffer", "[runtime]") {
    test::Pipe pipe;
    test::BufferLedger frees;
    std::atomic<int> alive{0}, waiting{0};
    {
        // This thread's messenger ring (one fd, kept until the thread exits) exists before the
        // count: it is made by this thread's first wake-up of another thread's driver.
        auto warm = Runtime::create({.cores = 1}).value();
        CHECK(warm->run([]() -> Task<int> { co_return 1; }()) == 1);
    }
    const int fds_before = test::fd_count();
    {
        auto rt = Runtime::create({.cores = 2}).value();
        for (int i = 0; i < 20; ++i) {
            // Spawned on one core, waiting on the other, or on its own.
            REQUIRE(rt->spawn_on(i % 2, stuck_read(*rt, (i / 2) % 2, pipe.read.get(), frees, alive, waiting)));
            REQUIRE(rt->spawn_on(i % 2, forever(*rt, alive)));
        }
        for (auto until = std::chrono::steady_clock::now() + 10s;
             waiting.load() < 20 && std::chrono::steady_clock::now() < until;)
            std::this_thread::sleep_for(1ms);
        REQUIRE(waiting.load() == 20);
        CHECK(alive.load() == 40);
        rt->stop();
        // Stopped: nothing more starts, nothing moves in.
        CHECK(rt->spawn_on(0, forever(*rt, alive)).error().value() == ESHUTDOWN);
        CHECK(alive.load() == 0);
    }
    CHECK(alive.load() == 0);
    CHECK(frees.allocated() == 20);
    CHECK(frees.freed() == 20);     // every buffer the kernel borrowed came back, once
    CHECK(test::fd_count() == fds_before); // the rings are closed
}

TEST_CASE("run() of a main the runtime stops under is ESHUTDOWN, its frame destroyed", "[runtime]") {
    auto rt = Runtime::create({.cores = 2}).value();
    std::atomic<int> alive{0};
    std::thread stopper([&] {
        while (alive.load() == 0) std::this_thread::sleep_for(1ms);
        rt->stop();
    });
    auto main_task = [](Runtime& r, std::atomic<int>& a) -> Task<Result<int>> {
        co_await forever(r, a);
        co_return 1;
    };
    auto r = rt->run(main_task(*rt, alive));
    stopper.join();
    CHECK((!r && r.error().value() == ESHUTDOWN));
    CHECK(alive.load() == 0);
    // A main given to a stopped runtime is refused, and destroyed unstarted.
    CHECK(rt->run(main_task(*rt, alive)).error().value() == ESHUTDOWN);
}

TEST_CASE("idle cores sleep in the kernel, and wake for a task sent from another thread", "[runtime]") {
    auto rt = Runtime::create({.cores = 2}).value();
    ::rusage before{}, after{};
    ::getrusage(RUSAGE_SELF, &before);
    std::this_thread::sleep_for(300ms);
    ::getrusage(RUSAGE_SELF, &after);
    auto cpu_us = [](const ::rusage& u) {
        return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1'000'000 + u.ru_utime.tv_usec + u.ru_stime.tv_usec;
    };
    // Two spinning cores would use 600 ms of CPU here.
    CHECK(cpu_us(after) - cpu_us(before) < 100'000);
    std::mutex m;
    std::vector<std::pair<unsigned, std::thread::id>> seen;
    std::atomic<int> done{0};
    REQUIRE(rt->spawn_on(1, note_where(*rt, m, seen, done)));
    for (auto until = std::chrono::steady_clock::now() + 10s;
         done.load() < 1 && std::chrono::steady_clock::now() < until;)
        std::this_thread::sleep_for(1ms);
    CHECK(done.load() == 1);
}

TEST_CASE("a runtime refuses a core count it cannot mean", "[runtime]") {
    CHECK(Runtime::create({.cores = 100'000}).error() == std::errc::invalid_argument);
    // Pinned: each core on a CPU this process may use.
    auto rt = Runtime::create({.cores = 2, .pin = true});
    REQUIRE(rt.has_value());
}

TEST_CASE("a task may stop its own runtime; run() on a core is EDEADLK, not a hang", "[runtime]") {
    auto rt = Runtime::create({.cores = 2}).value();
    std::atomic<int> alive{0};
    REQUIRE(rt->spawn_on(1, forever(*rt, alive)));
    auto inner = [](Runtime& r) -> Task<Result<int>> {
        // run() from a core would wait for itself.
        auto nested = r.run([]() -> Task<Result<int>> { co_return 1; }());
        CHECK((!nested && nested.error() == std::errc::resource_deadlock_would_occur));
        r.stop(); // asks; the cores stop once this task suspends
        co_await Runtime::here()->submit(events::Timeout(1h));
        co_return 2; // never: the stop destroys this frame
    };
    auto r = rt->run(inner(*rt));
    CHECK((!r && r.error().value() == ESHUTDOWN));
    rt.reset(); // joins the stopped cores
    CHECK(alive.load() == 0);
}

namespace {
using test_runtime::Root;
Root switch_then_note(Runtime& rt, unsigned core, std::atomic<bool>& resumed) {
    (void)co_await rt.switch_to(core);
    resumed = true;
}
} // namespace

TEST_CASE("a coroutine destroyed while it waits to switch is never resumed", "[runtime]") {
    auto rt = Runtime::create({.cores = 2}).value();
    std::atomic<bool> resumed{false};
    rt->run([](Runtime& r, std::atomic<bool>& res) -> Task<void> {
        for (int round = 0; round < 50; ++round) {
            // Switching to its own core: posted there, and destroyed before the next loop turn.
            Root switcher = switch_then_note(r, 0, res);
            switcher.h.destroy();
            co_await Runtime::here()->submit(events::Nop{}); // loop turns pass
            co_await Runtime::here()->submit(events::Nop{});
        }
    }(*rt, resumed));
    CHECK(!resumed.load());
}

namespace {
// From the n-th kernel wait on (any core's), every wait fails hard (EIO): the ring unusable.
std::atomic<long> waits_before_failure{1L << 40};
int wait_fails_after_count(void*) noexcept {
    return waits_before_failure.fetch_sub(1, std::memory_order_relaxed) <= 0 ? -EIO : 0;
}

Task<Result<int>> nops_forever(std::atomic<int>& alive) {
    Alive a(alive);
    for (;;) co_await Runtime::here()->submit(events::Nop{}); // a loop turn each
}
} // namespace

TEST_CASE("a core whose kernel wait fails hard stops the runtime, and run() says why", "[runtime]") {
    RuntimeOptions options{.cores = 2};
    options.driver.faults.before_wait = wait_fails_after_count;
    waits_before_failure = 1L << 40;
    auto rt = Runtime::create(options).value();
    std::atomic<int> alive{0};
    REQUIRE(rt->spawn_on(1, forever(*rt, alive)));
    CHECK(!rt->failure());
    waits_before_failure = 50;
    // Not a hang until someone calls stop(): main is destroyed, and the core's error is the answer.
    auto r = rt->run(nops_forever(alive));
    REQUIRE(!r);
    CHECK(r.error().value() == EIO);
    CHECK(rt->failure().value() == EIO);
    // A stopped runtime takes no more work.
    CHECK(rt->spawn_on(1, forever(*rt, alive)).error().value() == ESHUTDOWN);
    rt.reset(); // the cores tear their drivers down with every wait failing: no hang either
    CHECK(alive.load() == 0);
    waits_before_failure = 1L << 40;
}

namespace {
Task<void> chain_link(Runtime& rt, int left, std::atomic<int>& last) {
    if (left == 0) {
        last = 1;
        co_return;
    }
    // Each link starts the next on its own core and ends: no stack grows with the chain.
    if (!rt.spawn_on(*rt.current_core(), chain_link(rt, left - 1, last))) last = -1;
}
} // namespace

TEST_CASE("a long chain of own-core spawns runs in constant stack", "[runtime]") {
    auto rt = Runtime::create({.cores = 2}).value();
    std::atomic<int> last{0};
    constexpr int links = 200'000; // started inline, 20,000 overflowed a core's 8 MB stack
    REQUIRE(rt->spawn_on(1, chain_link(*rt, links, last)));
    for (auto until = std::chrono::steady_clock::now() + 60s;
         last.load() == 0 && std::chrono::steady_clock::now() < until;)
        std::this_thread::sleep_for(1ms);
    CHECK(last.load() == 1);
    CHECK(rt->load(1) == 0u);
}

TEST_CASE("spawn_on from a loop nested on a core starts the task under the core's driver", "[runtime]") {
    auto rt = Runtime::create({.cores = 1}).value();
    struct Seen {
        drivers::LocalDriver* core_driver = nullptr;
        drivers::LocalDriver* nested_driver = nullptr;
        std::atomic<drivers::LocalDriver*> ran_under{nullptr};
    } seen;
    auto probe = [](Seen& s) -> Task<void> {
        auto [nop, r] = co_await Runtime::here()->submit(events::Nop{});
        if (r) s.ran_under = Runtime::here();
    };
    rt->run([](Runtime& r, Seen& s, auto probe) -> Task<void> {
        s.core_driver = Runtime::here();
        {
            auto nested = drivers::LocalDriver::create().value();
            s.nested_driver = nested.get();
            block_on(*nested, [](Runtime& r, Seen& s, auto probe) -> Task<void> {
                REQUIRE(Runtime::here() == s.nested_driver);
                REQUIRE(r.spawn_on(0, probe(s)));
                co_await Runtime::here()->submit(events::Nop{});
            }(r, s, probe));
        } // the nested driver is gone: the task must not have been its
        for (int i = 0; i < 100 && s.ran_under.load() == nullptr; ++i)
            co_await Runtime::here()->submit(events::Nop{});
    }(*rt, seen, probe));
    CHECK(seen.ran_under.load() == seen.core_driver);
}

TEST_CASE("a coroutine that yields by switching to its own core lets the core's other work run", "[runtime]") {
    // The yield posts it to the next turn: the turn ends, so the inbox (a task sent to this core)
    // and CQEs (that task's op) are taken before it runs again — not a loop that never ends.
    auto rt = Runtime::create({.cores = 1}).value();
    const int yields = rt->run([](Runtime& r) -> Task<int> {
        bool flag = false;
        REQUIRE(r.spawn_on(0, [](bool& f) -> Task<void> {
            auto [nop, res] = co_await Runtime::here()->submit(events::Nop{});
            f = res.has_value();
        }(flag)));
        int n = 0;
        while (!flag && n < 1'000'000) {
            (void)co_await r.switch_to(0);
            ++n;
        }
        co_return n;
    }(*rt));
    CHECK(yields < 1'000'000);
}

TEST_CASE("stop() ends a loop nested on a core that waits for work on another core", "[runtime]") {
    // block_on on a core's own driver waits for a call_on to core 1; stop() ends core 1's loop,
    // so that answer never comes: the nested loop answers ESHUTDOWN instead of waiting for it.
    auto rt = Runtime::create({.cores = 2}).value();
    std::atomic<int> started{0}, nested_error{0}, alive{0};
    REQUIRE(rt->spawn_on(0, [](Runtime& r, std::atomic<int>& s, std::atomic<int>& err,
                               std::atomic<int>& live) -> Task<void> {
        Alive a(live);
        auto waited = block_on(*Runtime::here(), [](Runtime& r2, std::atomic<int>& s2) -> Task<Result<int>> {
            co_return co_await call_on(r2, 1, [](std::atomic<int>& s3) -> Task<Result<int>> {
                ++s3;
                co_await Runtime::here()->submit(events::Timeout(1h));
                co_return 1;
            }(s2));
        }(r, s));
        err = waited ? 0 : waited.error().value();
        co_return;
    }(*rt, started, nested_error, alive)));
    while (started.load() == 0) std::this_thread::sleep_for(1ms);
    rt->stop(); // returns: not a hang
    CHECK(nested_error.load() == ESHUTDOWN);
    CHECK(alive.load() == 0);
}
