// SPDX-License-Identifier: MIT
// BufferPool: an empty pool waits for a buffer or fails, as configured; a lease keeps its pool
// alive; a lease returned after the driver is gone wakes nobody on it.
#include <catch2/catch_template_test_macros.hpp>
#include <catch2/catch_test_macros.hpp>

#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <cstring>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <utility>
#include <vector>

import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using drivers::LocalDriver;

TEST_CASE("an empty pool waits for a buffer, or fails, as configured", "[ring][pool]") {
    auto d = test::make_driver<LocalDriver>();
    auto p1 = io::pipe().value();
    auto p2 = io::pipe().value();
    REQUIRE(::write(p1.second.native_handle(), "first", 5) == 5);
    REQUIRE(::write(p2.second.native_handle(), "second", 6) == 6);

    SECTION("wait: the second Ring proceeds once the first consumes its data") {
        auto pool = BufferPool::create(1, 64, WhenEmpty::wait).value();
        Ring a(*d, std::move(p1.first), policies::Pooled{pool});
        Ring b(*d, std::move(p2.first), policies::Pooled{pool});
        REQUIRE(block_on(*d, test::fill_buf(a)).value().size() == 5); // a holds the only buffer
        CHECK(pool->available() == 0);
        std::optional<Result<std::size_t>> got;
        auto waiter = [](auto& ring, auto& out) -> test::Probe {
            out = co_await test::read_some(ring);
        };
        auto probe = waiter(b, got);
        d->poll();
        CHECK_FALSE(got.has_value()); // parked on the pool
        a.consume(5);                  // a's buffer goes back — handed to b...
        CHECK_FALSE(got.has_value());  // ...whose resumption is posted to the driver, not inline
        while (!got) d->run_once();
        CHECK(got->value() == 6);
        CHECK(pool->available() == 1);
    }
    SECTION("fail: the second Ring gets pool_exhausted at once") {
        auto pool = BufferPool::create(1, 64, WhenEmpty::fail).value();
        Ring a(*d, std::move(p1.first), policies::Pooled{pool});
        Ring b(*d, std::move(p2.first), policies::Pooled{pool});
        REQUIRE(block_on(*d, test::fill_buf(a)).value().size() == 5);
        auto r = block_on(*d, test::read_some(b));
        CHECK(r.error() == Errc::pool_exhausted);
        a.consume(5);
        CHECK(block_on(*d, test::read_some(b)).value() == 6);
    }
}

TEST_CASE("regression (torture seed 2883250081): a lease returned after the driver is gone "
          "does not wake the waiter on the dead driver",
          "[ring][pool][regression]") {
    auto pool = BufferPool::create(1, 64, WhenEmpty::wait).value();
    auto p1 = io::pipe().value();
    auto p2 = io::pipe().value();
    std::atomic<int> resumed{0};
    std::optional<test::Probe> holder, waiter;
    {
        auto d = test::make_driver<LocalDriver>();
        auto reader = [](LocalDriver& d, io::Stream s, policies::Pooled p, std::atomic<int>& r) -> test::Probe {
            Ring ring(d, std::move(s), std::move(p));
            std::byte out[8];
            (void)co_await ring.read(out);
            r.fetch_add(1);
        };
        holder.emplace(reader(*d, std::move(p1.first), policies::Pooled{pool}, resumed)); // in flight
        waiter.emplace(reader(*d, std::move(p2.first), policies::Pooled{pool}, resumed)); // on the pool
        d->poll();
        CHECK(pool->available() == 0);
    } // the driver is gone; holder's read was cancelled and orphaned, waiter still waits
    holder.reset(); // its lease returns — to the waiter, whose driver is dead: not resumed
    CHECK(resumed.load() == 0);
    waiter.reset(); // the lease it was handed goes back
    CHECK(pool->available() == 1);
}

TEST_CASE("a lease keeps its pool alive after every other owner is gone; the last one frees it",
          "[ring][pool]") {
    auto pool = BufferPool::create(2, 64, WhenEmpty::wait).value();
    std::weak_ptr<BufferPool> watch = pool;
    auto first = pool->try_lease();
    auto second = pool->try_lease();
    REQUIRE(first);
    REQUIRE(second);
    REQUIRE(*first);
    REQUIRE(*second);
    CHECK_FALSE(pool->try_lease()); // would wait: nullopt, not an error
    pool.reset();
    REQUIRE_FALSE(watch.expired()); // held by its leases
    std::memset((*first)->data(), 0x5a, (*first)->size());
    first.reset();
    CHECK_FALSE(watch.expired());
    second.reset();
    CHECK(watch.expired()); // the last lease back dropped it

    auto failing = BufferPool::create(1, 64, WhenEmpty::fail).value();
    auto only = failing->try_lease();
    REQUIRE(only);
    auto none = failing->try_lease();
    REQUIRE(none); // fail mode answers now, with the error
    REQUIRE_FALSE(*none);
    CHECK((*none).error() == make_error_code(Errc::pool_exhausted));
}
