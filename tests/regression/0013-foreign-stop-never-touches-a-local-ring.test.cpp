// SPDX-License-Identifier: MIT
// Found by the outside attack on issue 13's fifth step: a StopScope::request() from another
// thread, reaching an op of a LocalDriver, wrote a cancel SQE into that driver's SQ from the
// foreign thread (a data race on the SQ tail) — and the cancel was never submitted. A LocalDriver
// touches its ring only on its own thread: from another, its cancel() now sends nothing and drops
// the reference the cancel's CQE would have held (nothing leaks); the op runs to its own end.
// (Waking a LocalDriver from another thread is the Runtime's work: issue 15.) Run under TSan.
#include <catch2/catch_test_macros.hpp>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <optional>
#include <thread>
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

TEST_CASE("a stop request from another thread leaves a LocalDriver's ring alone",
          "[regression][threads]") {
    auto d = test::make_driver<LocalDriver>();
    test::Pipe p;
    for (int round = 0; round < 20; ++round) {
        std::optional<Result<std::uint32_t>> got;
        auto root = reader(*d, p.read.get(), got);
        (void)d->poll(); // the read is in the kernel, waiting
        std::jthread other([&] {
            root.h.promise().scope.request();
            std::this_thread::sleep_for(1ms);
            REQUIRE(::write(p.write.get(), "x", 1) == 1);
        });
        while (!got) REQUIRE(d->run_once(true));
        other.join();
        // The op ran to its end: the byte, or — had the stop been delivered — ECANCELED.
        CHECK(((*got && **got == 1) || got->error() == std::errc::operation_canceled));
        if (!*got) { char c; REQUIRE(::read(p.read.get(), &c, 1) == 1); }
        root.h.destroy();
        CHECK(d->in_flight() == 0);
    }
}
