// SPDX-License-Identifier: MIT
// Found by the outside attack on issue 13's fifth step: with_timeout(e, negative) completed with
// operation_canceled — the kernel refuses a negative LINK_TIMEOUT with EINVAL and cancels the op
// it bounds, and the timer's error was dropped for the op's. The timer's own error is now the
// result; Ring::set_read_timeout refuses a negative duration with EINVAL and keeps the old one.
#include <catch2/catch_test_macros.hpp>

#include <unistd.h>

#include <chrono>
#include <coroutine>
#include <expected>
#include <optional>
#include <utility>
import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using namespace std::chrono_literals;
using drivers::LocalDriver;

TEST_CASE("with_timeout of a negative duration is EINVAL, and the op never ran", "[regression]") {
    auto d = test::make_driver<LocalDriver>();
    test::Pipe p;
    REQUIRE(::write(p.write.get(), "abc", 3) == 3);
    auto [linked, r] = block_on(*d, test::completed(
        *d, events::with_timeout(events::Read{p.read.get(), std::vector<std::byte>(8), current_offset}, -1ms)));
    REQUIRE_FALSE(r);
    CHECK(r.error() == std::errc::invalid_argument);
    CHECK(test::readable(p.read.get()) == 3); // nothing was read
}

TEST_CASE("set_read_timeout refuses a negative duration", "[regression][ring]") {
    auto d = test::make_driver<LocalDriver>();
    test::Pipe p;
    Ring ring(*d, io::Stream(io::OwnedFd(::dup(p.read.get()))));
    auto bad = ring.set_read_timeout(-5ms);
    REQUIRE_FALSE(bad);
    CHECK(bad.error() == std::errc::invalid_argument);
    REQUIRE(ring.set_read_timeout(0ns)); // zero is a deadline already passed: allowed
    REQUIRE(ring.set_read_timeout(std::nullopt));
    REQUIRE(::write(p.write.get(), "x", 1) == 1);
    auto data = block_on(*d, [&]() -> Task<Result<std::size_t>> {
        auto b = co_await ring.fill_buf();
        if (!b) co_return std::unexpected(b.error());
        co_return b->size();
    }());
    REQUIRE(data);
    CHECK(*data == 1u);
}
