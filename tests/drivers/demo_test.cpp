// SPDX-License-Identifier: MIT
// DemoDriver: the process-wide driver is one driver, created on first use.
#include <catch2/catch_template_test_macros.hpp>
#include <catch2/catch_test_macros.hpp>

#include <atomic>
#include <chrono>
#include <coroutine>
#include <optional>
#include <string>
#include <vector>

import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using drivers::DemoDriver;
using drivers::LocalDriver;

namespace {

template <class D>
Task<void> timers(D& d) {
    using namespace std::chrono_literals;
    auto [t, tn] = co_await submit(d, events::Timeout{1ms});
    CHECK(tn == events::Timeout::expired); // a timer that fires succeeds
    auto [n, nn] = co_await submit(d, events::Nop{});
    CHECK(nn == 0u);
}

} // namespace

TEST_CASE("the process-wide demo driver is one driver, created on first use", "[events][threads]") {
    auto first = DemoDriver::process_wide();
    REQUIRE(first.has_value());
    auto again = DemoDriver::process_wide();
    REQUIRE(again.has_value());
    CHECK(*first == *again);
    block_on(**first, timers(**first));
}
