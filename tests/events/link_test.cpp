// SPDX-License-Identifier: MIT
// link and with_timeout: chains run in order and come back together, deadlines bound an op;
// an awaiter destroyed mid-chain frees every event's buffer once, after the CQEs.
#include <catch2/catch_test_macros.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

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

Task<void> write_then_fsync(LocalDriver& d, int fd) {
    auto [l, r] = co_await submit(d, events::link(events::Write<>{fd, test::bytes("linked"), 0},
                                                  events::Fsync{fd}, events::Read<>{fd, Buf(16), 0}));
    REQUIRE(r == 3u); // the number of events, all succeeded
    CHECK(l.result<0>() == 6u);
    CHECK(l.result<1>() == 0u);
    REQUIRE(l.result<2>() == 6u);
    CHECK(test::text(std::get<2>(l.events).buf, 6) == "linked");
}

Task<void> failure_cancels_the_rest(LocalDriver& d, int fd) {
    auto [l, r] = co_await submit(d, events::link(events::Read<>{-1, Buf(8)}, events::Write<>{fd, test::bytes("never"), 0},
                                                  events::Fsync{fd}));
    CHECK(r.error() == std::errc::bad_file_descriptor);
    CHECK(l.result<0>().error() == std::errc::bad_file_descriptor);
    CHECK(l.result<1>().error() == std::errc::operation_canceled);
    CHECK(l.result<2>().error() == std::errc::operation_canceled);
}

} // namespace

TEST_CASE("link: events run in order and come back together") {
    auto d = test::make_driver<LocalDriver>();
    test::Fd f = test::temp_file();
    SECTION("write, fsync, read") { block_on(*d, write_then_fsync(*d, f.get())); }
    SECTION("a failure cancels the rest of the chain") {
        block_on(*d, failure_cancels_the_rest(*d, f.get()));
        char c;
        CHECK(::pread(f.get(), &c, 1, 0) == 0); // the write never ran
    }
}

TEST_CASE("link: destroying the awaiter mid-chain frees every event's buffer once, after the CQEs") {
    auto d = test::make_driver<LocalDriver>();
    test::Pipe empty, out;
    test::BufferLedger frees;
    {
        test::Probe p = [](LocalDriver& d, int in, int w, test::BufferLedger& f) -> test::Probe {
            co_await submit(d, events::link(events::Read<test::TrackedBuffer>{in, test::TrackedBuffer(64, f)},
                                            events::Write<test::TrackedBuffer>{w, test::TrackedBuffer(8, f)}));
        }(*d, empty.read.get(), out.write.get(), frees);
        d->poll();
        CHECK(d->in_flight() == 2u); // the read waits; the write waits behind it
    }
    CHECK(frees.freed() == 0); // the kernel still holds both
    while (d->in_flight() > 0) d->run_once();
    CHECK(frees.freed() == 2);
}

namespace {
Task<void> deadline(LocalDriver& d, int empty_pipe, int full_pipe, test::BufferLedger& frees) {
    const auto start = std::chrono::steady_clock::now();
    auto [slow, r] = co_await submit(d, events::with_timeout(events::Read<test::TrackedBuffer>{empty_pipe, test::TrackedBuffer(64, frees)}, 20ms));
    CHECK(r.error() == std::errc::timed_out);
    CHECK(std::chrono::steady_clock::now() - start >= 20ms);
    CHECK(frees.freed() == 0); // the buffer came back with the result
    auto [fast, r2] = co_await submit(d, events::with_timeout(events::Read<>{full_pipe, Buf(64)}, 10s));
    REQUIRE(r2 == 5u);
    CHECK(test::text(fast.event.buf, 5) == "ready");
}
} // namespace

TEST_CASE("with_timeout: a deadline on any op") {
    auto d = test::make_driver<LocalDriver>();
    test::Pipe empty, full;
    ::write(full.write.get(), "ready", 5);
    test::BufferLedger frees;
    block_on(*d, deadline(*d, empty.read.get(), full.read.get(), frees));
    CHECK(d->in_flight() == 0u); // both timers' CQEs were accounted for
}

TEST_CASE("with_timeout: destroying the awaiter frees the buffer once, after both CQEs") {
    auto d = test::make_driver<LocalDriver>();
    test::Pipe empty;
    test::BufferLedger frees;
    {
        test::Probe p = [](LocalDriver& d, int fd, test::BufferLedger& f) -> test::Probe {
            co_await submit(d, events::with_timeout(events::Read<test::TrackedBuffer>{fd, test::TrackedBuffer(64, f)}, 10s));
        }(*d, empty.read.get(), frees);
        d->poll(); // in the kernel
    }
    CHECK(frees.freed() == 0); // the kernel may still write into it
    while (d->in_flight() > 0) d->run_once();
    CHECK(frees.freed() == 1);
}
