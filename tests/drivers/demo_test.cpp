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
import ringbahn.test_checks;

using namespace ringbahn;
using drivers::DemoDriver;
using drivers::LocalDriver;

TEST_CASE("the process-wide demo driver is one driver, created on first use", "[events][threads]") {
    auto first = DemoDriver::process_wide();
    REQUIRE(first.has_value());
    auto again = DemoDriver::process_wide();
    REQUIRE(again.has_value());
    CHECK(*first == *again);
    block_on(**first, test::timers(**first));
}
