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
#include <unistd.h>

#include <cstddef>
#include <memory>
#include <string_view>
#include <vector>
#include <utility>
#include <cstring>
#include <coroutine>
import ringbahn;
import ringbahn.test_support;

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
// A driver, a pipe whose read end a Ring wraps, and `first` already written to it.
struct Piped {
    std::unique_ptr<LocalDriver> d = test::make_driver<LocalDriver>();
    io::StreamPair pipe = io::pipe().value();
    std::unique_ptr<R> ring = std::make_unique<R>(*d, std::move(pipe.first));
    bool resumed = false;
    explicit Piped(std::string_view first) { send(pipe.second, first); }
    void write(std::string_view s) { send(pipe.second, s); }
    std::string read(std::size_t max = 64) { return next_read(*d, *ring, max); }
};
} // namespace

TEST_CASE("a read that won a race whose caller is destroyed before the loser settled puts its "
          "bytes back", "[regression][ring][when_any]") {
    Piped t("hello");
    auto p = race_read(*t.d, *t.ring, t.resumed);
    turns(*t.d, 1); // the read completes and wins; the timer's cancel is still on its way
    REQUIRE_FALSE(t.resumed);
    p.reset();
    t.write("world");
    CHECK(t.read(5) == "hello");
    CHECK(t.read() == "world");
    turns(*t.d, 4);
    CHECK(t.d->in_flight() == 0);
}

TEST_CASE("read_exact destroyed midway puts back what it had copied",
          "[regression][ring][when_any]") {
    Piped t("hello");
    auto p = race_read_exact(*t.d, *t.ring, 10, t.resumed);
    turns(*t.d, 2); // "hello" copied; waiting for five more bytes
    REQUIRE_FALSE(t.resumed);
    p.reset();
    t.write("world");
    std::byte out[10];
    REQUIRE(block_on(*t.d, t.ring->read_exact(out)));
    CHECK(test::text(std::vector<std::byte>(out, out + 10), 10) == "helloworld");
}

TEST_CASE("read_exact that won a dropped race puts its bytes back",
          "[regression][ring][when_any]") {
    Piped t("hello");
    auto p = race_read_exact(*t.d, *t.ring, 5, t.resumed);
    turns(*t.d, 1);
    REQUIRE_FALSE(t.resumed);
    p.reset();
    t.write("!");
    CHECK(t.read() == "hello");
    CHECK(t.read() == "!");
}

TEST_CASE("a read whose value a task in the branch took is not put back",
          "[regression][ring][when_any]") {
    Piped t("hello");
    std::string got;
    auto p = race_task(*t.d, *t.ring, got, t.resumed);
    turns(*t.d, 1);
    REQUIRE_FALSE(t.resumed);
    p.reset();
    CHECK(got == "hello"); // the task had it: the Ring must not return it again
    t.write("world");
    CHECK(t.read() == "world");
}

TEST_CASE("a read whose race resumes its caller counts as read once",
          "[regression][ring][when_any]") {
    Piped t("hello");
    auto p = race_read(*t.d, *t.ring, t.resumed);
    for (int i = 0; i < 10 && !t.resumed; ++i) (void)t.d->poll();
    REQUIRE(t.resumed);
    p.reset();
    t.write("world");
    CHECK(t.read() == "world");
}

TEST_CASE("a dropped read's bytes outlive the Ring safely", "[regression][ring][when_any]") {
    Piped t("hello");
    auto p = race_read(*t.d, *t.ring, t.resumed);
    turns(*t.d, 1);
    t.ring.reset(); // the Ring goes first; dropping the race must not touch it
    p.reset();
    turns(*t.d, 4);
    CHECK(t.d->in_flight() == 0);
}
