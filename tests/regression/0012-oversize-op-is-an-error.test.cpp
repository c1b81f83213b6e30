// SPDX-License-Identifier: MIT
// Regression (issue 12, item 9): an op needing more SQEs than the ring has (with_timeout on a
// 1-entry ring, a long link) called std::terminate. A count known only at run time is now an
// error value (EINVAL); a link of more than 16 events does not compile.
#include <catch2/catch_test_macros.hpp>
#include <chrono>
#include <cstdint>
#include <cerrno>
#include <coroutine>
#include <tuple>
import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using namespace std::chrono_literals;
using drivers::LocalDriver;

TEST_CASE("an op needing more SQEs than the ring has fails with EINVAL, and the driver goes on",
          "[regression][sqes]") {
    auto d = LocalDriver::create({.entries = 1}).value();
    auto timed = block_on(*d, test::completed(*d, events::with_timeout(events::Nop{}, 1s)));
    CHECK(timed.result.error() == std::errc::invalid_argument);
    auto chain = block_on(*d, test::completed(*d, events::link(events::Nop{}, events::Nop{}, events::Nop{})));
    CHECK(chain.result.error() == std::errc::invalid_argument);
    CHECK(chain.event.result<0>().error() == std::errc::invalid_argument);
    CHECK(block_on(*d, test::completed(*d, events::Nop{})).result == 0u); // still serves what fits
    CHECK(d->in_flight() == 0u);
}

TEST_CASE("on a demo driver too", "[regression][sqes][threads]") {
    auto d = drivers::DemoDriver::create({.entries = 1}).value();
    auto timed = block_on(*d, [](drivers::DemoDriver& d) -> Task<Result<std::uint32_t>> {
        auto [e, r] = co_await submit(d, events::with_timeout(events::Nop{}, 1s));
        co_return r;
    }(*d));
    CHECK(timed.error() == std::errc::invalid_argument);
}
