// SPDX-License-Identifier: MIT
// Found by the outside attack on issue 13's op-path step: `when_any(ring.read(buf), timer)`
// whose caller was destroyed after the read had won but before the timer had settled. The read
// had copied its bytes into the caller's span and consumed them; the caller never saw the value,
// and the bytes were gone from the Ring. read_exact destroyed midway lost its copied bytes too.
// Now a Ring read's value counts as read only once a coroutine takes it: dropped, the bytes go
// back in front of the Ring's, and the next read returns them first.
#include <catch2/catch_test_macros.hpp>
#include <chrono>
#include <string>
#include "../support.hpp"
import ringbahn;

using namespace ringbahn;
using namespace std::chrono_literals;
using drivers::LocalDriver;
using R = Ring<io::Stream, policies::Heap<>, LocalDriver>;

namespace {
void send(io::Stream& w, std::string_view s) {
    REQUIRE(::write(w.native_handle(), s.data(), s.size()) == ssize_t(s.size()));
}
test::Probe race_read(LocalDriver& d, R& ring, bool& resumed) {
    std::byte buf[64];
    auto r = co_await when_any(ring.read(buf), submit(d, events::Timeout{10s}));
    resumed = true;
}
test::Probe race_read_exact(LocalDriver& d, R& ring, std::size_t n, bool& resumed) {
    std::vector<std::byte> buf(n);
    auto r = co_await when_any(ring.read_exact(buf), submit(d, events::Timeout{10s}));
    resumed = true;
}
// A Task in the branch takes the read's value itself: the bytes are its, not the Ring's.
Task<Result<std::size_t>> read_into(R& ring, std::string& got) {
    std::byte buf[64];
    auto n = co_await ring.read(buf);
    if (n) got.assign(reinterpret_cast<const char*>(buf), *n);
    co_return n;
}
test::Probe race_task(LocalDriver& d, R& ring, std::string& got, bool& resumed) {
    auto r = co_await when_any(read_into(ring, got), submit(d, events::Timeout{10s}));
    resumed = true;
}
std::string next_read(LocalDriver& d, R& ring, std::size_t max = 64) {
    std::vector<std::byte> buf(max);
    auto n = block_on(d, ring.read(buf));
    REQUIRE(n);
    return test::text(buf, *n);
}
void turns(LocalDriver& d, int n) {
    for (int i = 0; i < n; ++i) (void)d.poll();
}
} // namespace

TEST_CASE("a read that won a race whose caller is destroyed before the loser settled puts its "
          "bytes back", "[regression][ring][when_any]") {
    auto d = test::make_driver<LocalDriver>();
    auto [r, w] = io::pipe().value();
    R ring(*d, std::move(r));
    send(w, "hello");
    bool resumed = false;
    auto p = race_read(*d, ring, resumed);
    turns(*d, 1); // the read completes and wins; the timer's cancel is still on its way
    REQUIRE_FALSE(resumed);
    p.reset();
    send(w, "world");
    CHECK(next_read(*d, ring, 5) == "hello");
    CHECK(next_read(*d, ring) == "world");
    turns(*d, 4);
    CHECK(d->in_flight() == 0);
}

TEST_CASE("read_exact destroyed midway puts back what it had copied",
          "[regression][ring][when_any]") {
    auto d = test::make_driver<LocalDriver>();
    auto [r, w] = io::pipe().value();
    R ring(*d, std::move(r));
    send(w, "hello");
    bool resumed = false;
    auto p = race_read_exact(*d, ring, 10, resumed);
    turns(*d, 2); // "hello" copied; waiting for five more bytes
    REQUIRE_FALSE(resumed);
    p.reset();
    send(w, "world");
    std::byte out[10];
    REQUIRE(block_on(*d, ring.read_exact(out)));
    CHECK(test::text(std::vector<std::byte>(out, out + 10), 10) == "helloworld");
}

TEST_CASE("read_exact that won a dropped race puts its bytes back",
          "[regression][ring][when_any]") {
    auto d = test::make_driver<LocalDriver>();
    auto [r, w] = io::pipe().value();
    R ring(*d, std::move(r));
    send(w, "hello");
    bool resumed = false;
    auto p = race_read_exact(*d, ring, 5, resumed);
    turns(*d, 1);
    REQUIRE_FALSE(resumed);
    p.reset();
    send(w, "!");
    CHECK(next_read(*d, ring) == "hello");
    CHECK(next_read(*d, ring) == "!");
}

TEST_CASE("a read whose value a task in the branch took is not put back",
          "[regression][ring][when_any]") {
    auto d = test::make_driver<LocalDriver>();
    auto [r, w] = io::pipe().value();
    R ring(*d, std::move(r));
    send(w, "hello");
    bool resumed = false;
    std::string got;
    auto p = race_task(*d, ring, got, resumed);
    turns(*d, 1);
    REQUIRE_FALSE(resumed);
    p.reset();
    CHECK(got == "hello"); // the task had it: the Ring must not return it again
    send(w, "world");
    CHECK(next_read(*d, ring) == "world");
}

TEST_CASE("a read whose race resumes its caller counts as read once",
          "[regression][ring][when_any]") {
    auto d = test::make_driver<LocalDriver>();
    auto [r, w] = io::pipe().value();
    R ring(*d, std::move(r));
    send(w, "hello");
    bool resumed = false;
    auto p = race_read(*d, ring, resumed);
    for (int i = 0; i < 10 && !resumed; ++i) (void)d->poll();
    REQUIRE(resumed);
    p.reset();
    send(w, "world");
    CHECK(next_read(*d, ring) == "world");
}

TEST_CASE("a dropped read's bytes outlive the Ring safely", "[regression][ring][when_any]") {
    auto d = test::make_driver<LocalDriver>();
    auto [r, w] = io::pipe().value();
    auto ring = std::make_unique<R>(*d, std::move(r));
    send(w, "hello");
    bool resumed = false;
    auto p = race_read(*d, *ring, resumed);
    turns(*d, 1);
    ring.reset(); // the Ring goes first; dropping the race must not touch it
    p.reset();
    turns(*d, 4);
    CHECK(d->in_flight() == 0);
}
