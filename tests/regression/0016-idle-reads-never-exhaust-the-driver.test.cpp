// SPDX-License-Identifier: MIT
// Regression (issue 16): Uring capped ops in flight at the SQ size, so a server's idle
// connections — one read each, waiting for data that may never come — used up the budget:
// new reads, new accepts and the multishot accept's re-arm parked forever (the HTTP example
// stopped accepting at ~2,300 idle connections with 1,024 entries). Now only SQ slots are
// rationed; here a ring of 64 entries holds 10,000 reads on idle sockets while a NOP, a new
// accept and a read with data waiting complete at once, and teardown frees every buffer.
#include <catch2/catch_template_test_macros.hpp>
#include <catch2/catch_test_macros.hpp>
#include <sys/resource.h>
#include <sys/socket.h>
#include <atomic>
#include <expected>
#include <chrono>
#include <vector>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <coroutine>
import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using drivers::DemoDriver;
using drivers::LocalDriver;

namespace {
constexpr int reads = 10'000;

template <class D>
test::Probe idle_read(D& d, int fd, test::TrackedBuffer buf, std::atomic<int>& resumed) {
    auto [r, n] = co_await submit(d, events::Recv<test::TrackedBuffer>{fd, std::move(buf)});
    resumed.fetch_add(1);
}

template <class D>
Task<Result<io::TcpStream>> accept_one(D& d, int fd) {
    auto conn = co_await submit(d, events::Accept{fd});
    if (!conn) co_return std::unexpected(conn.error());
    co_return io::TcpStream(std::move(*conn));
}
} // namespace

TEMPLATE_TEST_CASE("a ring of 64 entries holds 10,000 idle reads and still serves new work at once",
                   "[regression][c10k][threads]", LocalDriver, DemoDriver) {
    ::rlimit lim{};
    ::getrlimit(RLIMIT_NOFILE, &lim);
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
    // As many socket pairs as the fd limit allows (up to one per read), the reads spread over them.
    const int pairs = int(std::min<rlim_t>(reads, lim.rlim_cur > 600 ? (lim.rlim_cur - 300) / 2 : 100));
    INFO("socket pairs: " << pairs);
    const int fds_before = test::fd_count();
    test::BufferLedger frees;
    std::atomic<int> resumed{0};
    {
        auto d = test::make_driver<TestType>(64);
        std::vector<test::SocketPair> idle(static_cast<std::size_t>(pairs));
        std::vector<test::Probe> waiting;
        waiting.reserve(reads);
        for (int i = 0; i < reads; ++i)
            waiting.push_back(idle_read(*d, idle[std::size_t(i % pairs)].a.get(), test::TrackedBuffer(16, frees), resumed));
        if constexpr (std::is_same_v<TestType, LocalDriver>) {
            d->poll();
            CHECK(d->in_flight() == std::uint32_t(reads)); // every read is with the kernel
        }

        const auto start = std::chrono::steady_clock::now();
        CHECK(block_on(*d, test::result_of(*d, events::Nop{})).has_value());

        test::Listener l;
        auto client = l.connect_client();
        auto accepted = block_on(*d, accept_one(*d, l.fd.get()));
        REQUIRE(accepted.has_value());

        test::SocketPair busy;
        REQUIRE(::write(busy.b.get(), "data", 4) == 4);
        auto n = block_on(
            *d, test::result_of(*d, events::Recv<>{busy.a.get(), std::vector<std::byte>(16)}));
        REQUIRE(n.has_value());
        CHECK(*n == 4u);
        CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
        CHECK(resumed.load() == 0); // the idle reads are still waiting

        // One idle connection gets data: its read (one of 10,000) completes.
        REQUIRE(::write(idle[0].b.get(), "x", 1) == 1);
        for (int turn = 0; turn < 1000 && resumed.load() == 0; ++turn)
            (void)block_on(*d, test::result_of(*d, events::Timeout(std::chrono::milliseconds(1))));
        CHECK(resumed.load() == 1);
        waiting.clear(); // 9,999 reads cancelled in flight
    } // teardown with whatever is still in flight
    CHECK(frees.freed() == reads);
    CHECK(test::fd_count() == fds_before);
}
