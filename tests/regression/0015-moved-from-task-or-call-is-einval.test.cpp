// SPDX-License-Identifier: MIT
// Found by the outside attack on issue 15's second step: spawn_on with a moved-from task said
// yes, and the core then ended the program (the empty task threw where it ran, and a spawned
// task's exception terminates); co_await on a moved-from call_on dereferenced its empty shared
// state. Every way to start a task now refuses a moved-from one at the call — spawn_on with
// EINVAL, LocalDriver::spawn and TaskSet::spawn with std::system_error(EINVAL) — and a
// moved-from call_on resumes with EINVAL, touching nothing.
#include <catch2/catch_test_macros.hpp>

#include <coroutine>
#include <system_error>
#include <thread>
#include <utility>

import ringbahn;

using namespace ringbahn;
using drivers::LocalDriver;

namespace {
Task<void> nothing() { co_return; }
Task<Result<int>> seven() { co_return 7; }
} // namespace

TEST_CASE("spawn_on with a moved-from task is EINVAL, and the runtime goes on", "[runtime]") {
    auto rt = Runtime::create({.cores = 2}).value();
    for (unsigned core = 0; core < 2; ++core) {
        auto t = nothing();
        auto keep = std::move(t);
        auto r = rt->spawn_on(core, std::move(t));
        CHECK((!r && r.error() == std::errc::invalid_argument));
        CHECK(rt->spawn_on(core, std::move(keep)).has_value());
    }
    // From a core too (its own, where spawn_on starts the task at once, and the other one).
    auto from_core = rt->run([](Runtime& run) -> Task<int> {
        int refused = 0;
        for (unsigned core = 0; core < 2; ++core) {
            auto t = nothing();
            auto keep = std::move(t);
            auto r = run.spawn_on(core, std::move(t));
            refused += !r && r.error() == std::errc::invalid_argument;
        }
        co_return refused;
    }(*rt));
    CHECK(from_core == 2);
}

TEST_CASE("LocalDriver::spawn refuses a moved-from task at the call, from any thread", "[runtime]") {
    auto d = LocalDriver::create().value();
    auto t = nothing();
    auto keep = std::move(t);
    CHECK_THROWS_AS(d->spawn(std::move(t)), std::system_error);
    bool thrown_elsewhere = false;
    std::thread([&] {
        auto u = nothing();
        auto k = std::move(u);
        try {
            d->spawn(std::move(u));
        } catch (const std::system_error& e) {
            thrown_elsewhere = e.code() == std::errc::invalid_argument;
        }
    }).join();
    CHECK(thrown_elsewhere);
    d->spawn(std::move(keep)); // the real one runs
    CHECK(d->run_once(false).has_value());
}

TEST_CASE("co_await on a moved-from call_on is EINVAL; the moved one works", "[runtime]") {
    auto rt = Runtime::create({.cores = 2}).value();
    auto r = rt->run([](Runtime& run) -> Task<Result<int>> {
        auto c = call_on(run, 1, seven());
        auto m = std::move(c);
        auto spent = co_await std::move(c);
        if (spent || spent.error() != std::errc::invalid_argument) co_return -1;
        co_return co_await std::move(m);
    }(*rt));
    CHECK((r && *r == 7));
}
