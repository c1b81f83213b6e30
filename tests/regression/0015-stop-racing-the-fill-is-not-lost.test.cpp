// SPDX-License-Identifier: MIT
// Found by the outside attack on issue 15's second step: destroying a call_on caller mid-call
// left, now and then, its callee on the other core blocked on a read until the runtime stopped.
// The stop request from the caller's core raced the callee's op being filled on its own core:
// the fill loaded "stopped?" before storing "granted", the stop stored "stopped" before loading
// the phase, and both could miss the other — the read went to the kernel uncancelled. The fill
// now decides under the stop scope's lock. A stress: thousands of callers destroyed at varied
// moments while their callees start reads on the other core; every callee must end.
#include <catch2/catch_test_macros.hpp>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <expected>
#include <thread>
#include <vector>

#include "../runtime/root.hpp"

import ringbahn;

using namespace ringbahn;
using test_runtime::Root;

namespace {
std::atomic<long> started{0}, ended{0};

struct Ends {
    ~Ends() { ended.fetch_add(1, std::memory_order_relaxed); }
};

// Reads an empty pipe after `nops` other ops: only a stop ends it.
Task<Result<int>> reader(int fd, int nops) {
    started.fetch_add(1, std::memory_order_relaxed);
    Ends counted;
    for (int k = 0; k < nops; ++k) (void)co_await Runtime::here()->submit(events::Nop{});
    auto [event, n] = co_await Runtime::here()->submit(events::Read{fd, std::vector<std::byte>(64)});
    if (!n) co_return std::unexpected(n.error());
    co_return static_cast<int>(*n);
}

Root caller(Runtime& rt, int fd, int nops) { (void)co_await call_on(rt, 1, reader(fd, nops)); }

Task<long> destroy_callers(Runtime& rt, int fd, int rounds) {
    for (int i = 0; i < rounds; ++i) {
        Root r = caller(rt, fd, i % 3);
        // Destroyed after 0..4 turns of this core: the stop lands before, during or after the
        // callee's read is filled on core 1.
        for (int k = 0; k < i % 5; ++k) (void)co_await Runtime::here()->submit(events::Nop{});
        r.h.destroy();
    }
    // Every callee must start and end (core 1 may lag behind: its spawns queue up); a lost
    // stop leaves one blocked for ever.
    for (int k = 0; k < 5000 && ended.load() < rounds; ++k)
        (void)co_await Runtime::here()->submit(events::Timeout{std::chrono::milliseconds(1)});
    co_return rounds - ended.load();
}
} // namespace

TEST_CASE("a stop from another core racing an op's fill still cancels it", "[runtime]") {
    int p[2];
    REQUIRE(::pipe(p) == 0);
    {
        auto rt = Runtime::create({.cores = 2}).value();
        const long stuck = rt->run(destroy_callers(*rt, p[0], 20'000));
        CHECK(stuck == 0);
        CHECK(started.load() == 20'000);
    }
    ::close(p[0]);
    ::close(p[1]);
}
