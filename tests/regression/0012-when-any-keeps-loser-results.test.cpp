// SPDX-License-Identifier: MIT
// Regression (issue 12, item 4): when_any freed a loser whose op completed anyway, with what it
// produced: when_any(recv, timeout) with the timer firing just before data arrived lost 200 of
// 200 bytes, and ~40% of all bytes with short random deadlines; an accept that lost kept its
// connection to itself. when_any now resumes once every branch has settled and gives each
// branch's value: nothing the kernel produced is dropped.
#include <catch2/catch_test_macros.hpp>
#include <sys/ioctl.h>
#include <chrono>
#include <random>
#include <thread>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>
#include <coroutine>
import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using namespace std::chrono_literals;
using drivers::LocalDriver;

namespace {
// A Nop always wins (its CQE comes first); the recv finds the bytes already there and completes
// in the same turn: a loser with a result.
Task<std::size_t> nop_vs_recv(LocalDriver& d, int fd, std::vector<std::byte>& got) {
    auto r = co_await when_any(submit(d, events::Nop{}),
                               submit(d, events::Recv<>{fd, std::vector<std::byte>(4096)}));
    auto& recv = r.get<1>();
    if (!recv.result) co_return 0;
    got.insert(got.end(), recv.event.buf.begin(), recv.event.buf.begin() + long(*recv.result));
    co_return *recv.result;
}
} // namespace

TEST_CASE("when_any: a losing recv that completed anyway gives its bytes to the caller",
          "[regression][when_any]") {
    auto d = test::make_driver<LocalDriver>();
    test::SocketPair s;
    const auto sent = test::random_bytes(200, 12);
    REQUIRE(::write(s.b.get(), sent.data(), sent.size()) == 200);
    std::vector<std::byte> got;
    const std::size_t n = block_on(*d, nop_vs_recv(*d, s.a.get(), got));
    CHECK(n + std::size_t(test::readable(s.a.get())) == 200u); // received, or still in the socket
    CHECK(std::equal(got.begin(), got.end(), sent.begin()));
    CHECK(d->in_flight() == 0u);
}

namespace {
Task<std::vector<std::byte>> recv_with_deadlines(LocalDriver& d, int fd, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<std::byte> got;
    for (;;) {
        const auto deadline = std::chrono::microseconds(rng() % 200);
        auto r = co_await when_any(submit(d, events::Recv<>{fd, std::vector<std::byte>(512)}),
                                   submit(d, events::Timeout(deadline)));
        auto& recv = r.get<0>(); // whoever won: the recv's own outcome
        if (recv.result && *recv.result == 0) co_return got; // end of stream
        if (recv.result)
            got.insert(got.end(), recv.event.buf.begin(), recv.event.buf.begin() + long(*recv.result));
        else
            CHECK(recv.result.error() == std::errc::operation_canceled);
    }
}
} // namespace

TEST_CASE("when_any(recv, short random deadline) while data streams in: every byte arrives, in order",
          "[regression][when_any]") {
    auto d = test::make_driver<LocalDriver>();
    test::SocketPair s;
    const auto sent = test::random_bytes(256 * 1024, 7);
    auto writer = test::write_then_shutdown(s.b.get(), sent, 700);
    const auto got = block_on(*d, recv_with_deadlines(*d, s.a.get(), 99));
    REQUIRE(got.size() == sent.size());
    CHECK(test::fnv1a(got) == test::fnv1a(sent));
}

namespace {
Task<int> nop_vs_accept(LocalDriver& d, int listen_fd) {
    auto r = co_await when_any(submit(d, events::Nop{}), submit(d, events::Accept{listen_fd}));
    auto& accept = r.get<1>();
    co_return accept ? accept->release() : -1;
}
} // namespace

TEST_CASE("when_any: a losing accept that got a connection gives it to the caller",
          "[regression][when_any][fd]") {
    auto d = test::make_driver<LocalDriver>();
    test::Listener l;
    test::Fd client = l.connect_client(); // in the backlog: the accept completes at once
    const int before = test::fd_count();
    const int fd = block_on(*d, nop_vs_accept(*d, l.fd.get()));
    REQUIRE(fd >= 0);
    CHECK(test::fd_count() == before + 1); // ours, not closed behind our back
    ::close(fd);
}
