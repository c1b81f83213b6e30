// SPDX-License-Identifier: MIT
// Regression (issue 12, item 7): MsgRing{target.uring_fd(), 42, 0x4000} made the target driver
// dereference 0x4000 as a Completion* (SEGV). Messages between rings are now tagged (bit 63 of
// user_data, which no user-space address has) and queued for take_message(), never dereferenced.
#include <catch2/catch_test_macros.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <thread>
#include <coroutine>
import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using drivers::LocalDriver;

TEST_CASE("a message with any tag reaches the target as a message, never as an address",
          "[regression][msg_ring]") {
    auto sender = test::make_driver<LocalDriver>();
    auto target = test::make_driver<LocalDriver>();
    for (std::uint64_t tag : {std::uint64_t{0x4000}, std::uint64_t{0}, std::uint64_t{1},
                              ~std::uint64_t{0}, std::uint64_t{0x7fff'ffff'ffff'ffc0}}) {
        REQUIRE(block_on(*sender,
                         test::result_of(*sender, events::MsgRing{target->uring_fd(), 42, tag})));
        std::optional<events::RingMessage> m;
        for (int i = 0; i < 100 && !m; ++i) {
            target->poll();
            m = target->take_message();
        }
        REQUIRE(m);
        CHECK(m->tag == (tag & ~events::MsgRing::message_bit));
        CHECK(m->value == 42);
    }
    CHECK(target->in_flight() == 0u);
}

TEST_CASE("a demo driver receives messages too", "[regression][msg_ring][threads]") {
    auto sender = test::make_driver<LocalDriver>();
    auto target = drivers::DemoDriver::create().value();
    REQUIRE(block_on(*sender,
                     test::result_of(*sender, events::MsgRing{target->uring_fd(), -7, 0x4000})));
    // The demo driver's reaper thread takes the message off its CQ: give it up to five
    // seconds (a loaded machine may not run it for a while), not a count of yields.
    std::optional<events::RingMessage> m;
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!m && std::chrono::steady_clock::now() < give_up) {
        m = target->take_message();
        if (!m) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    REQUIRE(m);
    CHECK(m->tag == 0x4000u);
    CHECK(m->value == -7);
}
