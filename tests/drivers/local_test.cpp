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
import ringbahn.test_checks;

using namespace ringbahn;
using drivers::DemoDriver;
using drivers::LocalDriver;

TEST_CASE("a LocalDriver with SQPOLL submits through the kernel's poller thread", "[events]") {
    auto d = LocalDriver::create({.entries = 32, .sqpoll = true, .sqpoll_idle_ms = 10}).value();
    CHECK((d->setup_flags() & IORING_SETUP_SQPOLL) != 0);
    block_on(*d, test::timers(*d));
    test::Fd f = test::temp_file();
    block_on(*d, test::file_round_trip(*d, f.get()));
}
