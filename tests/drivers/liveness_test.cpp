// SPDX-License-Identifier: MIT
// Liveness: a post reaches its own driver while it lives, and no driver after it — not even one
// made later in the same registry slot — while posts from other threads race its destruction.
#include <catch2/catch_test_macros.hpp>

#include <atomic>
#include <coroutine>
#include <memory>
#include <thread>
#include <vector>

import ringbahn;

using namespace ringbahn;
using drivers::LocalDriver;

TEST_CASE("a Poster of a destroyed driver reaches no driver made after it", "[liveness]") {
    for (int round = 0; round < 100; ++round) {
        auto first = LocalDriver::create({.entries = 4}).value();
        Poster stale(*first);
        stale.post(std::noop_coroutine());
        CHECK(first->run_once(false).value() == 1); // alive: the post arrived
        first.reset();
        auto next = LocalDriver::create({.entries = 4}).value(); // may take the freed slot
        stale.post(std::noop_coroutine());
        CHECK_FALSE(stale.unpost(std::noop_coroutine()));
        CHECK(next->run_once(false).value() == 0); // nothing arrived here
        Poster fresh(*next);
        fresh.post(std::noop_coroutine());
        CHECK(next->run_once(false).value() == 1);
    }
}

TEST_CASE("posts from other threads race drivers being destroyed and made", "[liveness][threads]") {
    constexpr int kDrivers = 8;
    std::vector<std::unique_ptr<LocalDriver>> drivers;
    std::vector<Poster> posters;
    for (int i = 0; i < kDrivers; ++i) {
        drivers.push_back(LocalDriver::create({.entries = 4}).value());
        posters.emplace_back(*drivers.back());
    }
    std::atomic<bool> done{false};
    std::atomic<long> posted{0};
    // Each thread posts through its own copy of every Poster (made before any driver ends).
    std::vector<std::thread> threads;
    for (int t = 0; t < 3; ++t)
        threads.emplace_back([copies = posters, &done, &posted] {
            while (!done.load(std::memory_order_relaxed))
                for (const Poster& p : copies) {
                    p.post(std::noop_coroutine()); // to a live driver's inbox, or dropped
                    posted.fetch_add(1, std::memory_order_relaxed);
                }
        });
    // Meanwhile this thread serves, destroys and remakes the drivers: each destructor waits for
    // a post in progress and drops what its inbox holds.
    for (int round = 0; round < 200; ++round) {
        auto& d = drivers[std::size_t(round % kDrivers)];
        (void)d->run_once(false);
        d = LocalDriver::create({.entries = 4}).value();
    }
    done = true;
    for (auto& t : threads) t.join();
    CHECK(posted.load() > 0);
    for (auto& d : drivers) CHECK(d->run_once(false).has_value());
}
