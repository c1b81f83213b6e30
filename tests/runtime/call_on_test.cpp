// SPDX-License-Identifier: MIT
// call_on: a task run on another core gives its value back on the caller's core; a stop or the
// caller's destruction cancels the callee's op on the callee's own core, and frees its buffer.
#include <catch2/catch_test_macros.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "root.hpp"

import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using namespace std::chrono_literals;

namespace {

// Catch2 is not thread-safe: callees (on core 1) record, the caller (core 0) asserts.
struct Seen {
    std::optional<unsigned> core;
    std::thread::id thread;
};

Task<int> square_on_core(Runtime& rt, int n, Seen& seen) {
    seen = {rt.current_core(), std::this_thread::get_id()};
    co_await Runtime::here()->submit(events::Nop{});
    co_return n * n;
}

Task<Result<std::uint32_t>> read_empty_pipe(int fd, test::BufferLedger& frees) {
    auto [read, r] = co_await Runtime::here()->submit(events::Read<test::TrackedBuffer>{fd, test::TrackedBuffer(64, frees)});
    co_return r;
}

Task<int> thrower() {
    co_await std::suspend_never{};
    throw std::runtime_error("callee failed");
}

using test_runtime::Root;

Root call_and_wait(Runtime& rt, int fd, test::BufferLedger& frees, std::atomic<bool>& resumed) {
    (void)co_await call_on(rt, 1, read_empty_pipe(fd, frees));
    resumed = true; // never: the caller is destroyed first
}

} // namespace

TEST_CASE("call_on runs the task on the other core and resumes the caller on its own", "[call_on]") {
    auto rt = Runtime::create({.cores = 2}).value();
    Seen callee;
    rt->run([](Runtime& r, Seen& s) -> Task<void> {
        const auto me = std::this_thread::get_id();
        const int v = co_await call_on(r, 1, square_on_core(r, 12, s));
        CHECK(v == 144);
        CHECK(r.current_core() == std::optional<unsigned>(0)); // back where it was
        CHECK(std::this_thread::get_id() == me);
        CHECK(s.core == std::optional<unsigned>(1));
        CHECK(s.thread != me);
        // Its exception comes back too; a core that does not exist is EINVAL.
        CHECK_THROWS_AS(co_await call_on(r, 1, thrower()), std::runtime_error);
        auto none = co_await call_on(r, 7, []() -> Task<Result<int>> { co_return 1; }());
        CHECK((!none && none.error() == std::errc::invalid_argument));
    }(*rt, callee));
}

TEST_CASE("a stopped caller cancels the callee's op on the callee's core", "[call_on]") {
    auto rt = Runtime::create({.cores = 2}).value();
    test::Pipe pipe;
    test::BufferLedger frees;
    rt->run([](int fd, Runtime& r, test::BufferLedger& f) -> Task<void> {
        for (int round = 0; round < 20; ++round) {
            auto raced = co_await when_any(call_on(r, 1, read_empty_pipe(fd, f)),
                                           Runtime::here()->submit(events::Timeout(1ms)));
            CHECK(raced.index() == 1);
            auto& lost = raced.get<0>();
            CHECK((!lost && lost.error() == std::errc::operation_canceled));
            CHECK(f.freed() == round + 1); // the callee settled before the race did
        }
    }(pipe.read.get(), *rt, frees));
}

TEST_CASE("destroying the caller mid-call cancels the callee and frees its buffer", "[call_on]") {
    auto rt = Runtime::create({.cores = 2}).value();
    test::Pipe pipe;
    test::BufferLedger frees;
    std::atomic<bool> resumed{false};
    rt->run([](Runtime& r, int fd, test::BufferLedger& f, std::atomic<bool>& res) -> Task<void> {
        for (int round = 0; round < 20; ++round) {
            Root caller = call_and_wait(r, fd, f, res);
            co_await Runtime::here()->submit(events::Timeout(1ms)); // the callee's read is waiting
            caller.h.destroy();                                    // the caller goes away
        }
        co_return;
    }(*rt, pipe.read.get(), frees, resumed));
    frees.wait_for_frees(20); // every callee's read was cancelled on core 1 and let go of its buffer
    CHECK(frees.allocated() == 20);
    CHECK(!resumed.load());
}

TEST_CASE("a callee its core destroys at stop answers ESHUTDOWN to its caller", "[call_on]") {
    auto rt = Runtime::create({.cores = 2}).value();
    test::Pipe pipe;
    test::BufferLedger frees;
    std::thread stopper([&] {
        while (frees.allocated() == 0) std::this_thread::sleep_for(1ms);
        rt->stop();
    });
    // Core 0 (the caller's) is destroyed first in the stop, so the caller goes before its
    // callee: the caller's destruction asks the callee to stop, nothing is resumed.
    auto r = rt->run([](Runtime& rr, int fd, test::BufferLedger& f) -> Task<Result<std::uint32_t>> {
        co_return co_await call_on(rr, 1, read_empty_pipe(fd, f));
    }(*rt, pipe.read.get(), frees));
    stopper.join();
    CHECK((!r && r.error().value() == ESHUTDOWN));
    rt.reset();
    CHECK(frees.freed() == 1);
}
