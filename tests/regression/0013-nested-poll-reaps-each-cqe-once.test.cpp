// SPDX-License-Identifier: MIT
// Found by the outside attack on issue 13's op-path step: a coroutine resumed by LocalDriver's
// reap loop called poll() itself. The nested turn submitted and reaped new CQEs, moving the CQ
// head past the outer loop's tail snapshot; the outer loop then kept going (head != tail) and
// dispatched stale CQ slots — freed completion states, a hang until the head wrapped.
#include <catch2/catch_test_macros.hpp>
#include <coroutine>
#include <cstdint>
#include <expected>
#include <memory>
import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;

namespace {
Task<void> nop(drivers::LocalDriver& d, int& done) {
    (void)co_await d.submit(events::Nop{});
    ++done;
}
// Resumed from inside the reap loop; steps the driver from there.
Task<void> nests(drivers::LocalDriver& d, int& done, int& inner_done) {
    (void)co_await d.submit(events::Nop{});
    d.spawn(nop(d, inner_done));
    d.spawn(nop(d, inner_done));
    (void)d.poll(); // submits the two NOPs and reaps their CQEs, inside the outer reap
    (void)d.poll();
    ++done;
}
} // namespace

TEST_CASE("a coroutine that polls its own driver from a completion sees each CQE once") {
    auto d = drivers::LocalDriver::create({.entries = 2}).value(); // a CQ of 32 slots
    int warm = 0;
    // Every CQ slot has held a CQE before: a stale slot would name a freed state.
    for (int i = 0; i < 40; ++i) {
        d->spawn(nop(*d, warm));
        while (warm <= i) (void)d->poll();
    }
    int done = 0, inner_done = 0;
    for (int round = 0; round < 8; ++round) {
        d->spawn(nests(*d, done, inner_done));
        for (int turns = 0; turns < 100 && done <= round; ++turns) (void)d->poll();
        REQUIRE(done == round + 1);
    }
    for (int turns = 0; turns < 100 && inner_done < 16; ++turns) (void)d->poll();
    CHECK(inner_done == 16); // each nested op completed exactly once
    CHECK(d->in_flight() == 0);
}
