// SPDX-License-Identifier: MIT
// Regression (found by the outside attack on issue 16): waiting for a buffer ignored stop
// requests. A Ring read waiting for a pool lease (every buffer lent out) lost a
// when_any(read, Timeout(100ms)) only when a lease came back — a second later, or never (the
// driver then had nothing in flight and terminated); a recv stream waiting for its dry
// ProvidedBuffers did the same. Both waits now take the stop: they withdraw and resume with
// operation_canceled, and nothing is lost (the pool and the ring get every buffer back).
#include <catch2/catch_template_test_macros.hpp>
#include <catch2/catch_test_macros.hpp>
#include <sys/socket.h>
#include <chrono>
#include <vector>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <coroutine>
import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using namespace std::chrono_literals;
using drivers::DemoDriver;
using drivers::LocalDriver;

namespace {
using Clock = std::chrono::steady_clock;

template <class D>
Task<void> pooled_read_loses(D& d, std::shared_ptr<BufferPool> pool, int fd, std::size_t& winner,
                             Clock::duration& took, std::error_code& read_error) {
    Ring<io::Stream, policies::Pooled, D> ring(d, io::Stream(io::OwnedFd(fd)), policies::Pooled{pool});
    std::vector<std::byte> out(16);
    const auto start = Clock::now();
    auto r = co_await when_any(ring.read(out), submit(d, events::Timeout(100ms)));
    took = Clock::now() - start;
    winner = r.index();
    if (auto& n = r.template get<0>(); !n) read_error = n.error();
}

template <class D>
Task<void> dry_stream_loses(D& d, int rx, int tx, std::size_t& winner, Clock::duration& took,
                            std::uint32_t& available_after) {
    auto ring = ProvidedBuffers::create(d, 2, 16).value();
    {
        auto s = recv_stream(d, rx, ring);
        std::vector<ProvidedLease> kept; // the consumer keeps what it got: the ring runs dry
        (void)!::write(tx, "0123456789abcdef0123456789abcdefXYZ", 35);
        for (int i = 0; i < 2; ++i)
            if (auto c = co_await s.next()) kept.push_back(std::move(*c));
        const auto start = Clock::now();
        auto r = co_await when_any(s.next(), submit(d, events::Timeout(100ms)));
        took = Clock::now() - start;
        winner = r.index();
    }
    available_after = ring->available(); // the kept chunks and the stream are gone
}
} // namespace

TEMPLATE_TEST_CASE("a Ring read waiting for a pool buffer loses a when_any on time",
                   "[regression][cancellation][threads]", LocalDriver, DemoDriver) {
    auto d = test::make_driver<TestType>();
    auto pool = BufferPool::create(1, 4096, WhenEmpty::wait).value();
    auto held = pool->try_acquire().value(); // every buffer lent out
    test::Pipe p;
    std::size_t winner = 9;
    Clock::duration took{};
    std::error_code read_error;
    block_on(*d, pooled_read_loses(*d, pool, std::exchange(p.read.fd, -1), winner, took, read_error));
    CHECK(winner == 1u);
    CHECK(took < 900ms);
    CHECK(read_error == std::errc::operation_canceled);
    { auto drop = std::move(held); }
    CHECK(pool->available() == 1u); // the withdrawn waiter took nothing
}

TEMPLATE_TEST_CASE("a recv stream waiting for a dry ProvidedBuffers loses a when_any on time",
                   "[regression][cancellation][threads]", LocalDriver, DemoDriver) {
    auto d = test::make_driver<TestType>();
    test::SocketPair s;
    std::size_t winner = 9;
    Clock::duration took{};
    std::uint32_t available = 0;
    block_on(*d, dry_stream_loses(*d, s.a.get(), s.b.get(), winner, took, available));
    CHECK(winner == 1u);
    CHECK(took < 900ms);
    CHECK(available == 2u);
}
