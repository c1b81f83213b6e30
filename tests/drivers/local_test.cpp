// SPDX-License-Identifier: MIT
// LocalDriver: with SQPOLL it submits through the kernel's poller thread.
#include <catch2/catch_template_test_macros.hpp>
#include <catch2/catch_test_macros.hpp>

#include <liburing.h>

#include <atomic>
#include <cerrno>
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

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/lsan_interface.h>
#define RINGBAHN_TEST_LSAN 1
#endif
#endif

namespace {
std::atomic<bool> refuse_sqes{false};
int refuse_when_asked(void*) noexcept { return refuse_sqes.load() ? -EIO : 0; }
} // namespace

TEST_CASE("a driver whose ring refuses every SQE at teardown stops waiting instead of hanging", "[local]") {
    // The op in flight (an hour's timer) can then never be cancelled: its memory is kept — leaked
    // on purpose, never freed under the kernel — and the teardown returns.
#ifdef RINGBAHN_TEST_LSAN
    __lsan_disable();
#endif
    refuse_sqes = false;
    {
        auto d = LocalDriver::create({.faults = {.before_submit = refuse_when_asked}}).value();
        d->spawn([](LocalDriver& drv) -> Task<void> {
            (void)co_await drv.submit(events::Timeout(std::chrono::hours(1)));
        }(*d));
        REQUIRE(d->poll()); // the timer's SQE goes to the kernel
        refuse_sqes = true;
    } // ~LocalDriver: its cancels are refused; it stops waiting after one tick
    refuse_sqes = false;
#ifdef RINGBAHN_TEST_LSAN
    __lsan_enable();
#endif
}
