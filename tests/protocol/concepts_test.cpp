// SPDX-License-Identifier: MIT
// The concepts accept the library's models and reject types missing a member; PrepareKey
// stays structural: only the submission machinery makes one.
#include <catch2/catch_test_macros.hpp>

#include <liburing.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

import ringbahn;
import ringbahn.test_support;

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
