// SPDX-License-Identifier: MIT
// Regression (issue 12, item 5): a Ring read that lost a when_any, or whose coroutine was
// destroyed while the Ring lived, dropped the bytes its op had received. Ring reads are now
// cancel-safe: those bytes stay in the Ring and the next read returns them, in order.
#include <catch2/catch_test_macros.hpp>
#include <chrono>
#include <random>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <thread>
#include <vector>
#include <utility>
#include <coroutine>
import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using namespace std::chrono_literals;
using drivers::LocalDriver;

namespace {
template <class R>
Task<std::vector<std::byte>> read_racing(LocalDriver& d, R& ring, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<std::byte> got;
    std::byte buf[300];
    for (;;) {
        auto r = co_await when_any(ring.read(buf),
                                   submit(d, events::Timeout(std::chrono::microseconds(rng() % 100))));
        auto& n = r.template get<0>();
        if (n && *n == 0) co_return got; // end of file
        if (n) got.insert(got.end(), buf, buf + *n);
        else CHECK(n.error() == std::errc::operation_canceled);
    }
}
} // namespace

TEST_CASE("a Ring read raced against a short timer in a loop loses no byte and keeps the order",
          "[regression][ring][when_any]") {
    auto d = test::make_driver<LocalDriver>();
    auto [r, w] = io::pipe().value();
    Ring ring(*d, std::move(r));
    const auto sent = test::random_bytes(512 * 1024, 3);
    auto writer = test::write_then_close(test::Fd(w.release()), sent, 1000);
    const auto got = block_on(*d, read_racing(*d, ring, 5));
    writer.join();
    REQUIRE(got.size() == sent.size());
    CHECK(test::fnv1a(got) == test::fnv1a(sent));
}

TEST_CASE("a Ring read with a deadline loses no byte: the next read starts where it stopped",
          "[regression][ring]") {
    auto d = test::make_driver<LocalDriver>();
    auto [r, w] = io::pipe().value();
    Ring ring(*d, std::move(r));
    REQUIRE(ring.set_read_timeout(50us));
    const auto sent = test::random_bytes(256 * 1024, 4);
    auto writer = test::write_then_close(test::Fd(w.release()), sent, 333);
    std::vector<std::byte> got;
    std::byte buf[500];
    for (;;) {
        auto n = block_on(*d, ring.read(buf));
        if (!n) {
            CHECK(n.error() == std::errc::timed_out);
            continue;
        }
        if (*n == 0) break;
        got.insert(got.end(), buf, buf + *n);
    }
    REQUIRE(got.size() == sent.size());
    CHECK(test::fnv1a(got) == test::fnv1a(sent));
}

namespace {
template <class R>
test::Probe read_forever(R& ring, std::size_t& got) {
    std::byte buf[64];
    auto n = co_await ring.read(buf);
    if (n) got += *n;
}
} // namespace

TEST_CASE("a Ring read whose coroutine is destroyed after its op completed leaves the bytes to "
          "the next read",
          "[regression][ring][cancel]") {
    auto d = test::make_driver<LocalDriver>();
    auto [r, w] = io::pipe().value();
    Ring ring(*d, std::move(r));
    std::size_t lost = 0;
    {
        auto reader = read_forever(ring, lost);
        d->poll(); // the read waits on the empty pipe
        REQUIRE(::write(w.native_handle(), "hello", 5) == 5); // the kernel completes it
    } // destroyed before its CQE was seen
    CHECK(lost == 0u);
    std::byte buf[16];
    auto n = block_on(*d, ring.read(buf));
    REQUIRE(n == 5u);
    CHECK(buf[0] == std::byte{'h'});
    CHECK(buf[4] == std::byte{'o'});
}

namespace {
template <class R>
Task<Result<void>> exact_or_stop(LocalDriver& d, R& ring, std::span<std::byte> out) {
    auto r = co_await when_any(ring.read_exact(out), submit(d, events::Timeout(1ms)));
    co_return std::move(r.template get<0>());
}
} // namespace

TEST_CASE("read_exact stopped half way puts back what it had copied", "[regression][ring]") {
    auto d = test::make_driver<LocalDriver>();
    auto [r, w] = io::pipe().value();
    Ring ring(*d, std::move(r));
    REQUIRE(::write(w.native_handle(), "half", 4) == 4);
    std::byte out[8];
    auto first = block_on(*d, exact_or_stop(*d, ring, out));
    REQUIRE_FALSE(first);
    REQUIRE(::write(w.native_handle(), "full", 4) == 4);
    std::byte all[8];
    REQUIRE(block_on(*d, ring.read_exact(all)));
    CHECK(test::text(std::vector<std::byte>(all, all + 8), 8) == "halffull");
}
