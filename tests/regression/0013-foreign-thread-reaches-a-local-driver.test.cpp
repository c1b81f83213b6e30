// SPDX-License-Identifier: MIT
// Found by the outside attack on issue 13's fifth step: a StopScope::request() from another
// thread, reaching an op of a LocalDriver, wrote a cancel SQE into that driver's SQ from the
// foreign thread (a data race on the SQ tail) — and the cancel was never submitted.
// A LocalDriver's ring is its thread's alone: from another thread, its cancel() (and post())
// now leave the request in a locked inbox and wake the owner's loop with a MSG_RING; the owner
// sends the cancel, and the op ends with ECANCELED at once. Run under TSan.
#include <catch2/catch_test_macros.hpp>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <optional>
#include <thread>
#include <memory>
#include <vector>
import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using namespace std::chrono_literals;
using drivers::LocalDriver;

namespace {
// A root coroutine with a stop scope of its own, as a user's task type may have.
struct Stoppable {
    struct promise_type {
        StopScope scope;
        StopScope* stop_scope() noexcept { return &scope; }
        Stoppable get_return_object() {
            return {std::coroutine_handle<promise_type>::from_promise(*this)};
        }
        std::suspend_never initial_suspend() noexcept { return {}; }
        std::suspend_always final_suspend() noexcept { return {}; }
        void return_void() noexcept {}
        void unhandled_exception() noexcept { std::terminate(); }
    };
    std::coroutine_handle<promise_type> h;
};
Stoppable reader(LocalDriver& d, int fd, std::optional<Result<std::uint32_t>>& got) {
    auto [event, n] = co_await d.submit(events::Read{fd, std::vector<std::byte>(16)});
    got = n;
}
} // namespace

TEST_CASE("a stop request from another thread reaches a LocalDriver's op through its owner",
          "[regression][threads]") {
    auto d = test::make_driver<LocalDriver>();
    test::Pipe p;
    for (int round = 0; round < 20; ++round) {
        std::optional<Result<std::uint32_t>> got;
        auto root = reader(*d, p.read.get(), got);
        (void)d->poll(); // the read is in the kernel, waiting
        std::jthread other([&] { root.h.promise().scope.request(); });
        const auto start = std::chrono::steady_clock::now();
        while (!got) REQUIRE(d->run_once(true)); // woken by the other thread: nothing else comes
        other.join();
        CHECK(std::chrono::steady_clock::now() - start < 5s);
        CHECK((!*got && got->error() == std::errc::operation_canceled));
        root.h.destroy();
        for (int i = 0; i < 10 && d->in_flight() != 0; ++i) (void)d->run_once(false);
        CHECK(d->in_flight() == 0);
    }
}

namespace {
Stoppable lease_waiter(std::shared_ptr<BufferPool> pool, LocalDriver& d, std::optional<bool>& got) {
    auto lease = co_await pool->acquire(Poster(d));
    got = lease.has_value();
}
} // namespace

TEST_CASE("a pool lease given back on another thread wakes a LocalDriver's waiter at once",
          "[regression][threads]") {
    auto d = test::make_driver<LocalDriver>();
    auto pool = BufferPool::create(1, 64, WhenEmpty::wait).value();
    for (int round = 0; round < 20; ++round) {
        auto held = pool->try_lease();
        REQUIRE((held && *held));
        std::optional<bool> got;
        auto root = lease_waiter(pool, *d, got);
        REQUIRE_FALSE(got); // parked: the only buffer is held
        // Something in flight, so the loop blocks in the kernel rather than reporting EDEADLK.
        auto timer = [](LocalDriver& d) -> Task<void> { (void)co_await submit(d, events::Timeout{10s}); };
        auto t = timer(*d);
        auto runner = [](Task<void> t) -> Stoppable { co_await std::move(t); }(std::move(t));
        std::jthread other([&] { held.reset(); }); // the lease goes back from here
        const auto start = std::chrono::steady_clock::now();
        while (!got) REQUIRE(d->run_once(true));
        other.join();
        CHECK(std::chrono::steady_clock::now() - start < 5s);
        CHECK(*got);
        root.h.destroy();
        runner.h.destroy(); // cancels the timer
        for (int i = 0; i < 10 && d->in_flight() != 0; ++i) (void)d->run_once(false);
        CHECK(d->in_flight() == 0);
    }
}
