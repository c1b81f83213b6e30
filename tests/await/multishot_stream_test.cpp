// SPDX-License-Identifier: MIT
// Multishot streams: accept, recv and poll as streams; destroying a stream reclaims what its
// CQEs produced; a provided ring that runs dry is re-armed with no data lost; a stream's next()
// can lose a when_any race.
#include <catch2/catch_test_macros.hpp>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <random>
#include <thread>
#include <utility>
#include <vector>

import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using drivers::LocalDriver;
using namespace std::chrono_literals;

namespace {

Task<void> accept_three(LocalDriver& d, io::TcpListener& listener, const test::Listener* unused) {
    (void)unused;
    auto incoming = listener.incoming(d);
    const auto at = listener.local_address().value();
    std::vector<test::Fd> clients;
    for (int i = 0; i < 3; ++i) {
        clients.emplace_back(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        REQUIRE(::connect(clients.back().get(), at.data(), at.size()) == 0);
    }
    for (int i = 0; i < 3; ++i) {
        auto conn = co_await incoming.next();
        REQUIRE(conn);
        CHECK(::write(conn->native_handle(), "hi", 2) == 2);
    }
    for (auto& c : clients) {
        char buf[2];
        CHECK(::read(c.get(), buf, 2) == 2);
    }
}

} // namespace

TEST_CASE("multishot accept: a stream of connections from one SQE") {
    auto d = test::make_driver<LocalDriver>();
    auto listener = io::TcpListener::bind(*io::SocketAddress::v4("127.0.0.1", 0)).value();
    block_on(*d, accept_three(*d, listener, nullptr));
}

TEST_CASE("multishot accept: destroying the stream with connections pending closes them all") {
    auto d = test::make_driver<LocalDriver>();
    auto listener = io::TcpListener::bind(*io::SocketAddress::v4("127.0.0.1", 0)).value();
    const auto at = listener.local_address().value();
    const int fds_at_start = test::fd_count();
    std::vector<test::Fd> clients;
    {
        auto incoming = listener.incoming(*d);
        test::Probe p = [](decltype(incoming)& in) -> test::Probe {
            auto first = co_await in.next(); // armed; the first connection is taken and closed
            CHECK(first);
        }(incoming);
        d->poll();
        for (int i = 0; i < 6; ++i) {
            clients.emplace_back(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
            REQUIRE(::connect(clients.back().get(), at.data(), at.size()) == 0);
        }
        for (int i = 0; i < 5; ++i) d->poll(); // 1 taken, 5 accepted into the inbox
        CHECK(test::fd_count() == fds_at_start + 6 + 5); // 6 clients, 5 accepted and not taken
    }
    while (d->in_flight() > 0) d->run_once();
    clients.clear();
    CHECK(test::fd_count() == fds_at_start); // every accepted fd was closed
}

namespace {
Task<void> drain(LocalDriver& d, int fd, std::shared_ptr<ProvidedBuffers> ring, test::Fnv1a& got, std::uint32_t& arms) {
    auto chunks = recv_stream(d, fd, ring);
    for (;;) {
        auto chunk = co_await chunks.next();
        REQUIRE(chunk);
        if (chunk->size() == 0) break; // end of file
        got.add(*chunk);
        if (got.bytes % 3 == 0) co_await submit(d, events::Nop{}); // a slow consumer now and then
    } // each chunk goes back to the ring here
    arms = chunks.arms();
}
} // namespace

TEST_CASE("multishot recv: a provided ring that runs dry is re-armed, no data lost") {
    auto d = test::make_driver<LocalDriver>();
    auto ring = ProvidedBuffers::create(*d, 4, 512).value();
    test::SocketPair sp;
    const auto data = test::random_bytes(1 << 20, 7);
    auto writer = test::write_then_shutdown(sp.b.get(), data, 8192);
    test::Fnv1a got;
    std::uint32_t arms = 0;
    block_on(*d, drain(*d, sp.a.get(), ring, got, arms));
    writer.join();
    CHECK(got.bytes == data.size());
    CHECK(got.sum == test::fnv1a(data));
    CHECK(arms > 1); // 4 buffers of 512 bytes for 1 MiB: it ran dry and was re-armed
    CHECK(ring->available() == 4u);
}

TEST_CASE("multishot recv: destroying the stream returns every buffer") {
    auto d = test::make_driver<LocalDriver>();
    auto ring = ProvidedBuffers::create(*d, 8, 256).value();
    test::SocketPair sp;
    {
        auto chunks = recv_stream(*d, sp.a.get(), ring);
        test::Probe p = [](decltype(chunks)& c) -> test::Probe { co_await c.next(); }(chunks);
        d->poll();
        std::vector<std::byte> data(256 * 6, std::byte{1});
        REQUIRE(::write(sp.b.get(), data.data(), data.size()) == ssize_t(data.size()));
        for (int i = 0; i < 4; ++i) d->poll(); // 5 more chunks wait in the inbox, in buffers
    }
    while (d->in_flight() > 0) d->run_once();
    CHECK(ring->available() == 8u);
    // And the kernel has them all again: 8 chunks held at once by a new stream.
    std::vector<std::byte> data(256 * 8, std::byte{2});
    REQUIRE(::write(sp.b.get(), data.data(), data.size()) == ssize_t(data.size()));
    auto take8 = [](LocalDriver& d, int fd, std::shared_ptr<ProvidedBuffers> r) -> Task<std::size_t> {
        auto chunks = recv_stream(d, fd, r);
        std::vector<ProvidedLease> held;
        std::size_t bytes = 0;
        while (bytes < 256 * 8) {
            auto c = co_await chunks.next();
            REQUIRE(c);
            bytes += c->size();
            held.push_back(std::move(*c));
        }
        co_return held.size();
    };
    CHECK(block_on(*d, take8(*d, sp.a.get(), ring)) == 8u);
}

TEST_CASE("multishot poll: readiness as a stream") {
    auto d = test::make_driver<LocalDriver>();
    test::Pipe p;
    auto ready = poll_stream(*d, p.read.get(), POLLIN);
    auto go = [](LocalDriver& d, decltype(ready)& r, int rd, int wr) -> Task<void> {
        for (int i = 0; i < 3; ++i) {
            ::write(wr, "x", 1);
            auto mask = co_await r.next();
            REQUIRE(mask);
            CHECK((*mask & POLLIN) != 0);
            char c;
            ::read(rd, &c, 1);
        }
        (void)d;
    };
    block_on(*d, go(*d, ready, p.read.get(), p.write.get()));
    CHECK(ready.arms() == 1u);
}

namespace {
Task<int> accept_or_timeout(LocalDriver& d, io::TcpListener& listener) {
    auto incoming = listener.incoming(d);
    int timeouts = 0;
    for (int i = 0; i < 3; ++i) { // next() loses to a timer: the stream stays armed
        auto r = co_await when_any(incoming.next(), submit(d, events::Timeout(2ms)));
        if (r.index() == 1) ++timeouts;
    }
    const auto at = listener.local_address().value();
    test::Fd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    REQUIRE(::connect(client.get(), at.data(), at.size()) == 0);
    auto conn = co_await incoming.next(); // the same armed op delivers it
    CHECK(conn);
    co_return timeouts;
}
} // namespace

TEST_CASE("a stream's next() can lose a when_any race: the stream stays armed, nothing dangles") {
    auto d = test::make_driver<LocalDriver>();
    auto listener = io::TcpListener::bind(*io::SocketAddress::v4("127.0.0.1", 0)).value();
    CHECK(block_on(*d, accept_or_timeout(*d, listener)) == 3);
}
