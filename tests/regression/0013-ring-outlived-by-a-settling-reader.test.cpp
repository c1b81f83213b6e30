// SPDX-License-Identifier: MIT
// Regression (issue 13, found by the outside attack on stop 23's step): a Ring destroyed before
// the frame of a read that was waiting for an abandoned read to settle. The waiting awaiter
// (ReadRescue::Settled) held a plain reference to the Ring's read-rescue, so destroying the frame
// afterwards unlocked and read freed memory (ASan: heap-use-after-free in ~Settled; with freed
// memory filled, a failed mutex lock and std::terminate). The awaiter now shares the rescue.
#include <catch2/catch_test_macros.hpp>

#include <unistd.h>

#include <coroutine>
#include <expected>
#include <memory>
#include <span>
#include <utility>
import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using drivers::LocalDriver;

namespace {
using PipeRing = Ring<io::Stream, policies::Heap<>, LocalDriver>;

test::Probe reader(PipeRing& ring, int& resumed) {
    auto data = co_await ring.fill_buf();
    (void)data;
    ++resumed;
}
} // namespace

TEST_CASE("a reader waiting for an abandoned read to settle may outlive its Ring") {
    const int fds_before = test::fd_count();
    int resumed = 0;
    {
        auto d = LocalDriver::create().value();
        auto [r, w] = io::pipe().value();
        auto ring = std::make_unique<PipeRing>(*d, std::move(r));
        test::Probe a = reader(*ring, resumed);
        REQUIRE(d->poll().has_value()); // A's read is in the kernel: the pipe is empty
        a.reset();                      // abandoned: a deposit is owed to the Ring's rescue
        test::Probe b = reader(*ring, resumed); // parks until that deposit comes

        SECTION("driver, then Ring, then the frame") {
            d.reset();    // teardown reaps the cancelled read; its deposit runs; B stays parked
            ring.reset(); // the Ring's reference to its rescue goes
            b.reset();    // ~Settled unparks from the rescue it shares
        }
        SECTION("Ring, then the frame, then the driver") {
            ring.reset();
            b.reset();
            d.reset();
        }
        SECTION("data arrives; Ring and frame go; then the deposit, into the shared rescue") {
            const std::byte x{42};
            REQUIRE(::write(w.native_handle(), &x, 1) == 1);
            ring.reset();
            b.reset();
            REQUIRE(d->poll().has_value()); // A's read completes: its Cancellation deposits
            d.reset();
        }
    }
    CHECK(resumed == 0); // nobody was resumed into a dead Ring
    CHECK(test::fd_count() == fds_before);
}
