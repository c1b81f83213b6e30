// SPDX-License-Identifier: MIT
// LocalDriver: with SQPOLL it submits through the kernel's poller thread.
#include <catch2/catch_template_test_macros.hpp>
#include <catch2/catch_test_macros.hpp>

#include <liburing.h>

#include <atomic>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using drivers::DemoDriver;
using drivers::LocalDriver;
using Buf = std::vector<std::byte>;

namespace {

template <class D>
Task<void> file_round_trip(D& d, int fd) {
    auto [w, wn] = co_await submit(d, events::Write<>{fd, test::bytes("hello, ring"), 5});
    REQUIRE(wn == 11u);
    auto [s, sn] = co_await submit(d, events::Fsync{fd});
    REQUIRE(sn == 0u);
    auto [ds, dsn] = co_await submit(d, events::Fsync{fd, true});
    REQUIRE(dsn == 0u);
    auto [r, rn] = co_await submit(d, events::Read<>{fd, Buf(64), 5});
    REQUIRE(rn == 11u);
    CHECK(test::text(r.buf, *rn) == "hello, ring");
    auto [hole, hn] = co_await submit(d, events::Read<>{fd, Buf(5), 0});
    REQUIRE(hn == 5u);
    CHECK(hole.buf == Buf(5)); // the gap before offset 5 reads as zeros
}

template <class D>
Task<void> timers(D& d) {
    using namespace std::chrono_literals;
    auto [t, tn] = co_await submit(d, events::Timeout{1ms});
    CHECK(tn == events::Timeout::expired); // a timer that fires succeeds
    auto [n, nn] = co_await submit(d, events::Nop{});
    CHECK(nn == 0u);
}

} // namespace

TEST_CASE("a LocalDriver with SQPOLL submits through the kernel's poller thread", "[events]") {
    auto d = LocalDriver::create({.entries = 32, .sqpoll = true, .sqpoll_idle_ms = 10}).value();
    CHECK((d->setup_flags() & IORING_SETUP_SQPOLL) != 0);
    block_on(*d, timers(*d));
    test::Fd f = test::temp_file();
    block_on(*d, file_round_trip(*d, f.get()));
}
