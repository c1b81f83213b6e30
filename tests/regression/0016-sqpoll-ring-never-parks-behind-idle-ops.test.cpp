// SPDX-License-Identifier: MIT
// Regression (found by the outside attack on issue 16): with SQPOLL, flushing a full SQ does not
// free its slots at once (the kernel thread consumes them a moment later), so requests parked —
// and the loop then waited for a CQE that idle reads never produce: 16 idle reads on an 8-entry
// SQPOLL ring hung every later op. A full SQPOLL ring now waits for the kernel thread to make
// room (IORING_ENTER_SQ_WAIT) instead of parking.
#include <catch2/catch_test_macros.hpp>
#include <atomic>
#include <vector>
#include <cstdint>
#include <utility>
#include <coroutine>
import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using drivers::LocalDriver;

namespace {
test::Probe idle_read(LocalDriver& d, int fd, test::TrackedBuffer buf) {
    auto [r, n] = co_await submit(d, events::Read<test::TrackedBuffer>{fd, std::move(buf)});
}
} // namespace

TEST_CASE("an SQPOLL ring of 8 entries holds 200 idle reads and still completes a NOP",
          "[regression][c10k]") {
    test::BufferLedger frees;
    {
        auto d = LocalDriver::create({.entries = 8, .sqpoll = true, .sqpoll_idle_ms = 10}).value();
        test::Pipe p;
        std::vector<test::Probe> waiting;
        for (int i = 0; i < 200; ++i) waiting.push_back(idle_read(*d, p.read.get(), test::TrackedBuffer(8, frees)));
        CHECK(d->in_flight() == 200u); // none parked
        CHECK(block_on(*d, test::result_of(*d, events::Nop{})).has_value());
        waiting.clear();
    }
    CHECK(frees.freed() == 200);
}
