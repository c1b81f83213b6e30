// SPDX-License-Identifier: MIT
// Found by the outside attack on issue 13's fifth step: `when_any(when_any(ring.read(buf),
// timer), other)` whose caller was destroyed after the inner race settled but before the outer
// one did lost the read's bytes: the inner when_any took the branch's value (its undo freed) and
// handed it to the outer branch, which then dropped it with nothing left to put back. Now a
// when_any / when_all awaited directly by another's branch hands the undo on with the value.
#include <catch2/catch_test_macros.hpp>
#include <unistd.h>

#include <chrono>
#include <coroutine>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>
import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using namespace std::chrono_literals;
using drivers::LocalDriver;
using R = Ring<io::Stream, policies::Heap<>, LocalDriver>;

namespace {
// A branch that takes no stop request and never ends: the outer race cannot settle.
struct Never {
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<>) const noexcept {}
    void await_resume() const noexcept {}
};
void send(io::Stream& w, std::string_view s) {
    REQUIRE(::write(w.native_handle(), s.data(), s.size()) == ssize_t(s.size()));
}
// The next `n` bytes (put back in front, then the Ring's buffer).
std::string read_n(LocalDriver& d, R& ring, std::size_t n) {
    std::vector<std::byte> buf(n);
    REQUIRE(block_on(d, ring.read_exact(buf)));
    return test::text(buf, n);
}
void settle(LocalDriver& d) {
    for (int i = 0; i < 20 && d.in_flight() != 0; ++i) (void)d.run_once(false);
    REQUIRE(d.in_flight() == 0);
}
} // namespace

TEST_CASE("a read that won a nested race is put back when the outer race is dropped",
          "[regression][ring][when_any]") {
    auto d = test::make_driver<LocalDriver>();
    auto pipe = io::pipe().value();
    R ring(*d, std::move(pipe.first));
    send(pipe.second, "ABCDEFGH");
    auto p = [](LocalDriver& d, R& ring) -> test::Probe {
        std::byte buf[4];
        [[maybe_unused]] auto r = co_await when_any(when_any(ring.read(buf), submit(d, events::Timeout{1h})), Never{});
    }(*d, ring);
    settle(*d); // the read won, the inner timer was cancelled: the inner race settled
    p.reset();  // the outer one never did: its value is dropped
    CHECK(read_n(*d, ring, 4) == "ABCD");
    CHECK(read_n(*d, ring, 4) == "EFGH");
}

TEST_CASE("reads of two Rings inside a nested when_all are both put back",
          "[regression][ring][when_any]") {
    auto d = test::make_driver<LocalDriver>();
    auto p1 = io::pipe().value();
    auto p2 = io::pipe().value();
    R a(*d, std::move(p1.first));
    R b(*d, std::move(p2.first));
    send(p1.second, "1234");
    send(p2.second, "5678");
    auto p = [](R& a, R& b) -> test::Probe {
        std::byte x[2], y[2];
        [[maybe_unused]] auto r = co_await when_any(when_all(a.read(x), b.read(y)), Never{});
    }(a, b);
    settle(*d);
    p.reset();
    CHECK(read_n(*d, a, 4) == "1234");
    CHECK(read_n(*d, b, 4) == "5678");
}

TEST_CASE("a nested race whose value the caller took counts as read once",
          "[regression][ring][when_any]") {
    auto d = test::make_driver<LocalDriver>();
    auto pipe = io::pipe().value();
    R ring(*d, std::move(pipe.first));
    send(pipe.second, "ABCDEFGH");
    bool resumed = false;
    auto p = [](LocalDriver& d, R& ring, bool& resumed) -> test::Probe {
        std::byte buf[4];
        [[maybe_unused]] auto r = co_await when_any(when_any(ring.read(buf), submit(d, events::Timeout{1h})),
                                   submit(d, events::Timeout{1h}));
        resumed = true;
    }(*d, ring, resumed);
    settle(*d);
    REQUIRE(resumed);
    p.reset();
    CHECK(read_n(*d, ring, 4) == "EFGH");
}
