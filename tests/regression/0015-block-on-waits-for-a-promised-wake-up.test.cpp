// SPDX-License-Identifier: MIT
// Found by the outside attack on issue 15's first step: a Channel recv (or a send to a full
// channel) under block_on on a plain LocalDriver, waiting for another thread, failed at once
// with EDEADLK — the driver had nothing in flight, so it judged that nothing could ever wake the
// task, though the README says channels work between any LocalDriver loops. A parked channel
// wait (and a call_on's caller) now tells its driver a wake-up is promised, and run_until waits
// for it in the kernel.
#include <catch2/catch_test_macros.hpp>

#include <chrono>
#include <coroutine>
#include <thread>

import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using namespace std::chrono_literals;
using drivers::LocalDriver;

TEST_CASE("block_on waits for a value another thread sends, and a send for room", "[channel]") {
    auto d = LocalDriver::create().value();
    auto ch = Channel<int>::create(1).value();
    std::thread other([ch] {
        std::this_thread::sleep_for(50ms);
        while (!ch.try_send(7)) std::this_thread::sleep_for(1ms);
    });
    auto r = block_on(*d, [](Channel<int> c) -> Task<Result<int>> { co_return co_await c.recv(); }(ch));
    other.join();
    CHECK((r && *r == 7));

    REQUIRE(ch.try_send(1)); // full
    std::thread taker([ch] {
        std::this_thread::sleep_for(50ms);
        while (!ch.try_recv()) std::this_thread::sleep_for(1ms);
    });
    auto s = block_on(*d, [](Channel<int> c) -> Task<Result<void>> { co_return co_await c.send(2); }(ch));
    taker.join();
    CHECK(s.has_value());
    CHECK(ch.size() == 1u);
}
