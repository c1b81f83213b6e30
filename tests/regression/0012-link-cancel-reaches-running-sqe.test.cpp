// SPDX-License-Identifier: MIT
// Regression (issue 12, item 1): destroying the awaiter of link(Nop, Recv) after the Nop had
// finished sent one cancel, aimed at the Nop's user_data: ENOENT, and the Recv stayed armed until
// driver teardown, taking the peer's next bytes (lost) — into freed memory with a borrowed
// buffer. Found by a consumer program against the installed package. Now the cancel is aimed at
// the chain's first SQE still running, and followed up as the chain advances.
#include <catch2/catch_test_macros.hpp>
#include <sys/ioctl.h>
#include <unistd.h>
#include <coroutine>
#include <tuple>
import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using drivers::LocalDriver;

namespace {
test::Probe recv_after_nop(LocalDriver& d, int fd, test::BufferLedger& frees) {
    (void)co_await submit(d, events::link(events::Nop{},
                                          events::Recv<test::TrackedBuffer>{fd, test::TrackedBuffer(64, frees)}));
}
} // namespace

TEST_CASE("a link destroyed after its first event finished cancels the event still running: the "
          "peer's bytes stay in the socket, the buffer is freed once after its CQE",
          "[regression][link][cancel]") {
    auto d = test::make_driver<LocalDriver>();
    test::SocketPair s;
    test::BufferLedger frees;
    {
        auto probe = recv_after_nop(*d, s.a.get(), frees);
        d->poll(); // submits both; the Nop completes, the Recv waits on the idle socket
        d->poll();
        REQUIRE(d->in_flight() == 1u); // only the Recv is out
    } // the awaiter goes: cancel
    for (int i = 0; i < 100 && d->in_flight() > 0; ++i) d->poll();
    CHECK(d->in_flight() == 0u);
    CHECK(frees.freed() == 1);
    REQUIRE(::write(s.b.get(), "hello", 5) == 5);
    d->poll();
    CHECK(test::readable(s.a.get()) == 5); // nobody took them
}

TEST_CASE("a three-event chain destroyed at each point cancels whatever runs; every buffer is "
          "freed exactly once",
          "[regression][link][cancel]") {
    for (int turns = 0; turns < 4; ++turns) {
        auto d = test::make_driver<LocalDriver>();
        test::SocketPair s;
        test::BufferLedger frees;
        {
            test::Probe p = [](LocalDriver& d, int fd, test::BufferLedger& f) -> test::Probe {
                (void)co_await submit(d, events::link(events::Nop{}, events::Nop{},
                                                      events::Recv<test::TrackedBuffer>{fd, test::TrackedBuffer(8, f)}));
            }(*d, s.a.get(), frees);
            for (int i = 0; i < turns; ++i) d->poll();
        }
        for (int i = 0; i < 100 && d->in_flight() > 0; ++i) d->poll();
        CHECK(d->in_flight() == 0u);
        CHECK(frees.freed() == 1);
        REQUIRE(::write(s.b.get(), "x", 1) == 1);
        CHECK(test::readable(s.a.get()) == 1);
    }
}
