// SPDX-License-Identifier: MIT
// The concepts accept the library's models and reject types missing a member; safety rules
// that are structural (PrepareKey, move-only Cancellation) stay structural.
#include <liburing.h>

#include <catch2/catch_test_macros.hpp>

#include <array>
#include <cerrno>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <atomic>
#include <optional>
#include <vector>

import ringbahn;

using namespace ringbahn;

namespace {

struct NoCancel {
    std::uint32_t sqes_needed() const noexcept { return 1; }
    void prepare(const PrepareKey&, std::span<::io_uring_sqe>) noexcept {}
};
struct ThrowingPrepare {
    std::uint32_t sqes_needed() const noexcept { return 1; }
    void prepare(const PrepareKey&, std::span<::io_uring_sqe>) {}
    Cancellation cancel() && noexcept { return {}; }
};
struct NoWithdrawDriver {
    bool acquire(SlotRequest&) noexcept { return true; }
    void cancel(Completion&) noexcept {}
    void run_until(const DoneSignal&) {}
    void spawn(Task<void>) {}
};

} // namespace

TEST_CASE("Event, Drive and OwnedBuffer accept their models", "[concepts]") {
    STATIC_REQUIRE(Event<events::Nop>);
    STATIC_REQUIRE(Event<events::Read<>>);
    STATIC_REQUIRE(Event<events::Write<>>);
    STATIC_REQUIRE(Event<events::Readv<>>);
    STATIC_REQUIRE(Event<events::Writev<>>);
    STATIC_REQUIRE(Event<events::Fsync>);
    STATIC_REQUIRE(Event<events::Close>);
    STATIC_REQUIRE(Event<events::Openat>);
    STATIC_REQUIRE(Event<events::Accept>);
    STATIC_REQUIRE(Event<events::Connect>);
    STATIC_REQUIRE(Event<events::Send<>>);
    STATIC_REQUIRE(Event<events::Recv<>>);
    STATIC_REQUIRE(Event<events::Timeout>);
    STATIC_REQUIRE(Event<events::AsyncCancel>);
    STATIC_REQUIRE(Drive<drivers::DemoDriver>);
    STATIC_REQUIRE(Drive<drivers::LocalDriver>);
    STATIC_REQUIRE(OwnedBuffer<std::vector<std::byte>>);
    STATIC_REQUIRE(OwnedBuffer<std::vector<char>>);
}

TEST_CASE("the concepts reject types that break their contract", "[concepts]") {
    STATIC_REQUIRE_FALSE(Event<NoCancel>);
    STATIC_REQUIRE_FALSE(Event<ThrowingPrepare>);
    STATIC_REQUIRE_FALSE(Drive<NoWithdrawDriver>);
    STATIC_REQUIRE_FALSE(OwnedBuffer<std::string>);        // small strings live in the object
    STATIC_REQUIRE_FALSE(OwnedBuffer<std::vector<int>>);   // not bytes
}

TEST_CASE("only the submission machinery can make a PrepareKey", "[concepts]") {
    STATIC_REQUIRE_FALSE(std::is_default_constructible_v<PrepareKey>);
    STATIC_REQUIRE_FALSE(std::is_copy_constructible_v<PrepareKey>);
    STATIC_REQUIRE_FALSE(std::is_move_constructible_v<PrepareKey>);
}

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

TEST_CASE("a CQE result becomes a value or a system error_code", "[errors]") {
    CHECK(cqe_result(12).value() == 12u);
    CHECK(cqe_result(-EBADF).error() == std::errc::bad_file_descriptor);
    CHECK(cqe_result(-EBADF).error().category() == std::system_category());
}
