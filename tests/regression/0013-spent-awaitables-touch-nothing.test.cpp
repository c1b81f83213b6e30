// SPDX-License-Identifier: MIT
// Found by the outside attack on issue 13's fifth step: an awaitable awaited a second time
// (`co_await std::move(op)` twice) ran its op again over what the first await left: a Timeout
// dereferenced its moved-from timespec (null), a link its moved-from result array, an Openat
// opened a second fd nobody owned. The same held for an awaitable moved from, for when_all /
// when_any (a finished branch resumed), a Task moved from (null handle) and a Ring's FillBuf
// (a second read op built over the live first). Every awaitable is now spent once awaited
// or moved from: a later await is ready at once with EINVAL and touches nothing of the first.
#include <catch2/catch_test_macros.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <coroutine>
#include <expected>
#include <system_error>
#include <tuple>
#include <utility>
#include <vector>
import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using namespace std::chrono_literals;
using drivers::LocalDriver;

namespace {
bool einval(const std::error_code& e) { return e == std::errc::invalid_argument; }

Task<Result<std::uint32_t>> answer() { co_return 42u; }
Task<void> nothing() { co_return; }
} // namespace

TEST_CASE("a Submission awaited twice gives EINVAL the second time", "[regression][spent]") {
    auto d = test::make_driver<LocalDriver>();
    const int fds_before = test::fd_count();
    block_on(*d, [&]() -> Task<void> {
        auto timer = submit(*d, events::Timeout(1ms));
        auto [t1, r1] = co_await std::move(timer);
        CHECK((r1 && *r1 == events::Timeout::expired)); // a timer that fires succeeds
        auto [t2, r2] = co_await std::move(timer);
        REQUIRE_FALSE(r2);
        CHECK(einval(r2.error()));

        auto open = submit(*d, events::Openat{AT_FDCWD, "/dev/null", O_RDONLY});
        Result<io::OwnedFd> fd1 = co_await std::move(open);
        REQUIRE(fd1);
        Result<io::OwnedFd> fd2 = co_await std::move(open);
        REQUIRE_FALSE(fd2);
        CHECK(einval(fd2.error()));

        auto chain = submit(*d, events::link(events::Nop{}, events::Nop{}));
        auto [l1, lr1] = co_await std::move(chain);
        CHECK(lr1);
        auto [l2, lr2] = co_await std::move(chain);
        REQUIRE_FALSE(lr2);
        CHECK(einval(lr2.error()));

        std::vector<std::byte> buf(16);
        auto read = submit(*d, events::Read{::open("/dev/zero", O_RDONLY | O_CLOEXEC), std::move(buf), 0});
        auto [e1, n1] = co_await std::move(read);
        CHECK((n1 && *n1 == 16u));
        ::close(e1.fd);
        auto [e2, n2] = co_await std::move(read);
        REQUIRE_FALSE(n2);
        CHECK(einval(n2.error()));
        CHECK(e2.buf.empty()); // the first await's buffer stays with the first
    }());
    CHECK(test::fd_count() == fds_before);
}

TEST_CASE("an awaitable moved from is spent", "[regression][spent]") {
    auto d = test::make_driver<LocalDriver>();
    block_on(*d, [&]() -> Task<void> {
        auto nop = submit(*d, events::Nop{});
        auto moved = std::move(nop);
        auto [e1, r1] = co_await std::move(nop);
        REQUIRE_FALSE(r1);
        CHECK(einval(r1.error()));
        auto [e2, r2] = co_await std::move(moved); // the one it moved to runs as usual
        CHECK(r2);

        Task<Result<std::uint32_t>> t = answer();
        Task<Result<std::uint32_t>> t2 = std::move(t);
        auto v0 = co_await std::move(t);
        REQUIRE_FALSE(v0);
        CHECK(einval(v0.error()));
        CHECK(*co_await std::move(t2) == 42u);
        auto again = co_await std::move(t2); // finished and taken: spent
        REQUIRE_FALSE(again);
        CHECK(einval(again.error()));

        Task<void> v = nothing();
        co_await std::move(v);
        co_await std::move(v); // nothing to give twice: returns
        // Moved from (or still running for another awaiter): it has not finished, and a
        // Task<void> cannot say so in a value — it throws (found by the seventh step's attack).
        Task<void> w = nothing();
        Task<void> w2 = std::move(w);
        bool threw = false;
        try {
            co_await std::move(w);
        } catch (const std::system_error& e) {
            threw = e.code() == std::errc::invalid_argument;
        }
        CHECK(threw);
        co_await std::move(w2);
    }());
}

TEST_CASE("when_all and when_any awaited twice give each branch EINVAL", "[regression][spent]") {
    auto d = test::make_driver<LocalDriver>();
    block_on(*d, [&]() -> Task<void> {
        auto both = when_all(answer(), answer());
        auto [a, b] = co_await std::move(both);
        CHECK(*a == 42u);
        CHECK(*b == 42u);
        auto [a2, b2] = co_await std::move(both);
        CHECK((!a2 && einval(a2.error())));
        CHECK((!b2 && einval(b2.error())));

        auto race = when_any(answer(), answer());
        auto first = co_await std::move(race);
        CHECK(first.index() < 2);
        auto second = co_await std::move(race);
        CHECK(second.index() == 2); // nobody won
        CHECK(einval(second.get<0>().error()));

        // A branch type that cannot hold an error: the second await throws instead.
        auto returned = when_all(submit(*d, events::Nop{}));
        (void)co_await std::move(returned);
        bool threw = false;
        try {
            (void)co_await std::move(returned);
        } catch (const std::system_error& e) {
            threw = einval(e.code());
        }
        CHECK(threw);
    }());
}

TEST_CASE("a Ring's fill_buf awaited twice reads once", "[regression][spent][ring]") {
    auto d = test::make_driver<LocalDriver>();
    auto [r, w] = io::pipe().value();
    REQUIRE(::write(w.native_handle(), "abc", 3) == 3);
    Ring ring(*d, std::move(r));
    block_on(*d, [&]() -> Task<void> {
        auto fill = ring.fill_buf();
        auto first = co_await std::move(fill);
        REQUIRE(first);
        CHECK(first->size() == 3u);
        auto second = co_await std::move(fill);
        REQUIRE_FALSE(second);
        CHECK(einval(second.error()));
        ring.consume(3);
        REQUIRE(::write(w.native_handle(), "de", 2) == 2);
        auto next = co_await ring.fill_buf(); // the Ring itself is unharmed
        REQUIRE(next);
        CHECK(next->size() == 2u);
    }());
}
