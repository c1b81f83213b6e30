// SPDX-License-Identifier: MIT
// A Cancellation is move-only and runs exactly once, with the CQE.
#include <catch2/catch_test_macros.hpp>

#include <liburing.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;

TEST_CASE("a Cancellation is move-only and runs exactly once with the CQE", "[cancellation]") {
    STATIC_REQUIRE_FALSE(std::is_copy_constructible_v<Cancellation>);
    STATIC_REQUIRE(std::is_nothrow_move_constructible_v<Cancellation>);
    int runs = 0, seen_res = 0;
    unsigned seen_flags = 0;
    SECTION("small callable, stored inline") {
        Cancellation c{[&](std::int32_t res, std::uint32_t flags) noexcept {
            ++runs;
            seen_res = res;
            seen_flags = flags;
        }};
        Cancellation moved = std::move(c);
        CHECK_FALSE(static_cast<bool>(c));
        std::move(moved).run(42, 7);
        std::move(moved).run(1, 1); // already ran: nothing
        CHECK(runs == 1);
        CHECK(seen_res == 42);
        CHECK(seen_flags == 7u);
    }
    SECTION("large callable, on the heap; its storage is freed after running") {
        auto big = std::make_shared<std::array<char, 256>>();
        std::weak_ptr<std::array<char, 256>> watch = big;
        std::array<char, 128> padding{};
        Cancellation c{[&runs, b = std::move(big), padding](std::int32_t, std::uint32_t) noexcept {
            runs += 1 + padding[0];
        }};
        CHECK_FALSE(watch.expired());
        Cancellation moved = std::move(c);
        std::move(moved).run(0, 0);
        CHECK(runs == 1);
        CHECK(watch.expired());
    }
    SECTION("hold_until_cqe keeps storage alive until it runs") {
        auto held = std::make_unique<int>(5);
        Cancellation c = hold_until_cqe(std::move(held), std::vector<std::byte>(16));
        std::move(c).run(-ECANCELED, 0);
        CHECK_FALSE(static_cast<bool>(c));
    }
}
