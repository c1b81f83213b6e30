// SPDX-License-Identifier: MIT
// Found by the outside attack on issue 15's first step: a block_on task on a plain LocalDriver
// (not one of the runtime's cores) could switch_to a core. Its owner, block_on, then saw
// nothing in flight, answered EDEADLK and destroyed the frame that core 0 was about to resume
// (a use-after-free); with an op kept in flight, the task finished on the core and resumed
// block_on's root there (a data race). switch_to now moves only coroutines a core of the
// runtime runs: EPERM otherwise — call_on reaches a core from anywhere, and comes back.
#include <catch2/catch_test_macros.hpp>

#include <coroutine>
#include <optional>
#include <system_error>

import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using drivers::LocalDriver;

TEST_CASE("switch_to from a coroutine no core runs is EPERM; call_on works from there", "[runtime]") {
    auto rt = Runtime::create({.cores = 2}).value();
    auto d = LocalDriver::create().value();
    auto r = block_on(*d, [](Runtime& run) -> Task<Result<int>> {
        auto moved = co_await run.switch_to(0);
        CHECK((!moved && moved.error() == std::errc::operation_not_permitted));
        CHECK(!run.current_core()); // still here
        co_return co_await call_on(run, 1, [](Runtime& rr) -> Task<Result<int>> {
            co_return static_cast<int>(rr.current_core().value());
        }(run));
    }(*rt));
    CHECK((r && *r == 1));
}
