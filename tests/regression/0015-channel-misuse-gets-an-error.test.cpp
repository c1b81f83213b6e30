// SPDX-License-Identifier: MIT
// Found by the outside attack on issue 15's first step, one case each:
//  - recv() on a moved-from Channel dereferenced a null state (send answered EINVAL);
//  - a Send awaited twice (co_await on an lvalue) pushed its moved-from value again: a second,
//    empty value the user never sent; a second await now touches nothing (EINVAL), as every
//    other spent awaitable;
//  - a value whose move throws, sent from a when_any branch, was pushed inside the stop scope's
//    noexcept attach: std::terminate instead of the exception reaching the sender;
//  - a receiver woken for a value that a try_recv took first resumed with EPIPE ("closed") on
//    an open channel: it is EBUSY, the one-receiver rule's error.
#include <catch2/catch_test_macros.hpp>

#include <cerrno>
#include <chrono>
#include <coroutine>
#include <stdexcept>
#include <string>
#include <system_error>
#include <tuple>
#include <memory>
#include <optional>
#include <variant>
#include <utility>

import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using namespace std::chrono_literals;
using drivers::LocalDriver;

namespace {
bool moves_throw = false;
// Its move throws while moves_throw is set.
struct Fragile {
    Fragile() = default;
    Fragile(Fragile&&) {
        if (moves_throw) throw std::runtime_error("move failed");
    }
    Fragile& operator=(Fragile&&) = default;
};

Task<std::string> send_fragile(Channel<Fragile> c) {
    auto send = c.send(Fragile{}); // moved into the awaiter while moves are harmless
    moves_throw = true;             // the push into the queue moves it again: throws
    try {
        (void)co_await send;
    } catch (const std::runtime_error&) {
        moves_throw = false;
        co_return "threw";
    }
    moves_throw = false;
    co_return "sent";
}
} // namespace

TEST_CASE("a moved-from channel answers EINVAL to recv and send", "[channel]") {
    auto d = LocalDriver::create().value();
    auto ch = Channel<int>::create(1).value();
    auto moved = std::move(ch);
    block_on(*d, [](Channel<int> c) -> Task<void> {
        auto r = co_await c.recv();
        CHECK((!r && r.error() == std::errc::invalid_argument));
        auto s = co_await c.send(1);
        CHECK((!s && s.error() == std::errc::invalid_argument));
    }(std::move(ch)));
    CHECK(moved.capacity() == 1u);
}

TEST_CASE("a send or recv awaited twice touches nothing the second time", "[channel]") {
    auto d = LocalDriver::create().value();
    auto ch = Channel<std::string>::create(4).value();
    block_on(*d, [](Channel<std::string> c) -> Task<void> {
        auto send = c.send("once");
        CHECK(co_await send);
        auto again = co_await send;
        CHECK((!again && again.error() == std::errc::invalid_argument));
        CHECK(c.size() == 1u); // one value, not a second empty one
        auto recv = c.recv();
        auto v = co_await recv;
        CHECK((v && *v == "once"));
        auto twice = co_await recv;
        CHECK((!twice && twice.error() == std::errc::invalid_argument));
    }(ch));
}

TEST_CASE("a value whose move throws, sent from a race, throws to the sender", "[channel]") {
    auto d = LocalDriver::create().value();
    auto ch = Channel<Fragile>::create(4).value();
    block_on(*d, [](LocalDriver& drv, Channel<Fragile> c) -> Task<void> {
        auto raced = co_await when_any(send_fragile(c), drv.submit(events::Timeout(1h)));
        CHECK(raced.index() == 0);
        CHECK(raced.get<0>() == "threw");
        CHECK(c.size() == 0u);
    }(*d, ch));
}

TEST_CASE("a receiver whose value a try_recv took first is EBUSY, not EPIPE", "[channel]") {
    auto d = LocalDriver::create().value();
    auto ch = Channel<int>::create(4).value();
    block_on(*d, [](LocalDriver& drv, Channel<int> c) -> Task<void> {
        auto receive = [](Channel<int> c2) -> Task<Result<int>> { co_return co_await c2.recv(); };
        auto steal = [](LocalDriver& d2, Channel<int> c2) -> Task<void> {
            co_await d2.submit(events::Nop{}); // the receiver is parked now
            REQUIRE(c2.try_send(5));           // wakes it (posted, not resumed yet)…
            CHECK((c2.try_recv() && true));    // …and the value is taken before it runs
        };
        auto [r, s] = co_await when_all(receive(c), steal(drv, c));
        CHECK((!r && r.error() == std::errc::device_or_resource_busy));
        REQUIRE(c.try_send(6));
        auto again = co_await c.recv(); // the channel is open and works
        CHECK((again && *again == 6));
    }(*d, ch));
}
