// SPDX-License-Identifier: MIT
// when_any / when_all: the loser is cancelled in place and settles before the combinator
// resumes, its buffer given back; destroying the awaiting coroutine cancels every branch.
#include <catch2/catch_test_macros.hpp>

#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <coroutine>
#include <cstddef>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using drivers::LocalDriver;
using namespace std::chrono_literals;
using Buf = std::vector<std::byte>;

namespace {
Task<void> any_read_or_timer(LocalDriver& d, int empty_pipe, test::BufferLedger& frees) {
    auto won = co_await when_any(submit(d, events::Read<test::TrackedBuffer>{empty_pipe, test::TrackedBuffer(64, frees)}),
                                 submit(d, events::Timeout(5ms)));
    CHECK(won.index() == 1);
    CHECK(won.get<1>().result == events::Timeout::expired);
    // The losing read was cancelled in place and has settled: its buffer came back with it.
    auto& lost = won.get<0>();
    CHECK(lost.result.error() == std::errc::operation_canceled);
    CHECK(lost.event.buf.size() == 64u);
    CHECK(frees.freed() == 0);
}
Task<void> all_of_three(LocalDriver& d, int pipe_r, int pipe_w) {
    auto [w, r, t] = co_await when_all(submit(d, events::Write<>{pipe_w, test::bytes("both")}),
                                       submit(d, events::Read<>{pipe_r, Buf(8)}),
                                       submit(d, events::Timeout(1ms)));
    CHECK(w.result == 4u);
    REQUIRE(r.result == 4u);
    CHECK(test::text(r.event.buf, 4) == "both");
    CHECK(t.result == events::Timeout::expired);
}
} // namespace

TEST_CASE("when_any: the loser is cancelled in place and settles before when_any resumes, its buffer given back") {
    auto d = test::make_driver<LocalDriver>();
    test::Pipe empty;
    test::BufferLedger frees;
    block_on(*d, any_read_or_timer(*d, empty.read.get(), frees));
    CHECK(frees.freed() == 1);
    CHECK(d->in_flight() == 0u);
}

TEST_CASE("when_all: every awaitable finishes, values in order") {
    auto d = test::make_driver<LocalDriver>();
    test::Pipe p;
    block_on(*d, all_of_three(*d, p.read.get(), p.write.get()));
}

TEST_CASE("when_any / when_all: destroying the awaiting coroutine cancels every branch") {
    auto d = test::make_driver<LocalDriver>();
    test::Pipe a, b;
    test::BufferLedger frees;
    {
        test::Probe p = [](LocalDriver& d, int x, int y, test::BufferLedger& f) -> test::Probe {
            co_await when_all(submit(d, events::Read<test::TrackedBuffer>{x, test::TrackedBuffer(8, f)}),
                              when_any(submit(d, events::Read<test::TrackedBuffer>{y, test::TrackedBuffer(8, f)}),
                                       submit(d, events::Timeout(10s))));
        }(*d, a.read.get(), b.read.get(), frees);
        d->poll();
        CHECK(d->in_flight() == 3u);
    }
    CHECK(frees.freed() == 0);
    while (d->in_flight() > 0) d->run_once();
    CHECK(frees.freed() == 2);
}
