// SPDX-License-Identifier: MIT
// Found by the outside attack on issue 13's sixth step: awaitables moved, or their owner
// destroyed, while a coroutine waits on them.
//  * when_any / when_all moved while awaited (through a pointer): the move took the running
//    branches, and the waiting one then took values from empty handles (SEGV).
//  * BufferPool::Acquire moved while parked: the move took its pool pointer, and the parked one's
//    destructor then withdrew through null.
//  * a MultishotStream destroyed while a coroutine waits in next(): destroying that coroutine
//    afterwards read the freed stream (heap-use-after-free in ~NextCqe).
// Now the waiting one keeps what it runs and the new one is spent; a stream going first
// orphans the waiting next(), which is never resumed and may be destroyed later.
#include <catch2/catch_test_macros.hpp>

#include <unistd.h>

#include <chrono>
#include <coroutine>
#include <expected>
#include <memory>
#include <new>
#include <optional>
#include <system_error>
#include <utility>
#include <vector>
import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using namespace std::chrono_literals;
using drivers::LocalDriver;

namespace {
template <class A>
test::Probe await_it(A& a, int& done) {
    (void)co_await std::move(a);
    ++done;
}
} // namespace

TEST_CASE("a when_any moved while awaited leaves its branches with the awaiting one",
          "[regression][when]") {
    auto d = test::make_driver<LocalDriver>();
    test::Pipe p;
    auto race = when_any(submit(*d, events::Read{p.read.get(), std::vector<std::byte>(8), current_offset}),
                         submit(*d, events::Timeout(2ms)));
    int done = 0;
    test::Probe waiter = await_it(race, done);
    REQUIRE(d->poll().has_value());
    auto moved = std::move(race); // from elsewhere, while the first awaits
    while (done == 0) REQUIRE(d->run_once().has_value());
    CHECK(done == 1); // the timer won, the read was cancelled, the waiter resumed normally
    bool threw = false; // the moved-to one is spent; its branch types hold no error: it throws
    block_on(*d, [&]() -> Task<void> {
        try {
            (void)co_await std::move(moved);
        } catch (const std::system_error& e) {
            threw = e.code() == std::errc::invalid_argument;
        }
    }());
    CHECK(threw);
}

TEST_CASE("a pool acquire moved while parked keeps its place", "[regression][pool]") {
    auto d = test::make_driver<LocalDriver>();
    auto pool = BufferPool::create(1, 64, WhenEmpty::wait).value();
    auto held = pool->try_acquire();
    REQUIRE(held);
    auto acquire = pool->acquire(Poster(*d));
    int done = 0;
    std::optional<test::Probe> waiter(await_it(acquire, done));
    auto moved = std::move(acquire); // while the first is parked
    SECTION("the parked one is destroyed") {
        waiter.reset(); // withdrew from the pool's queue: no null pool
        CHECK(done == 0);
    }
    SECTION("the parked one gets the buffer") {
        held = std::unexpected(std::make_error_code(std::errc::interrupted)); // the lease goes back
        while (done == 0) REQUIRE(d->run_once().has_value());
    }
    auto spent = block_on(*d, [&]() -> Task<Result<PoolLease>> { co_return co_await std::move(moved); }());
    REQUIRE_FALSE(spent);
    CHECK(spent.error() == std::errc::invalid_argument);
}

TEST_CASE("a stream may go before the coroutine waiting in its next()", "[regression][stream]") {
    test::Listener listener;
    const int fds_before = test::fd_count();
    {
        auto d = test::make_driver<LocalDriver>();
        auto stream = std::make_unique<MultishotStream<events::AcceptMultishot, LocalDriver>>(
            *d, events::AcceptMultishot{listener.fd.get()});
        int resumed = 0;
        std::optional<test::Probe> waiter;
        waiter.emplace([](auto& s, int& r) -> test::Probe {
            (void)co_await s.next();
            ++r;
        }(*stream, resumed));
        REQUIRE(d->poll().has_value()); // armed, waiting for a connection
        SECTION("stream, then the waiting coroutine, then the driver") {
            stream.reset();
            waiter.reset();
        }
        SECTION("stream, then a connection arrives, then the driver tears the rest down") {
            stream.reset();
            test::Fd client = listener.connect_client();
            REQUIRE(d->poll().has_value()); // the cancelled op's fd is closed, nobody resumed
            d.reset();
            waiter.reset();
        }
        CHECK(resumed == 0);
    }
    CHECK(test::fd_count() == fds_before);
}
