// SPDX-License-Identifier: MIT
// Streams on the demo driver: the reaper thread appends CQEs to a stream's inbox while the
// stream's coroutine takes them (run under TSan: label "threads").
#include <catch2/catch_test_macros.hpp>

#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "support.hpp"

import ringbahn;

using namespace ringbahn;
using drivers::DemoDriver;

namespace {
Task<std::size_t> accept_n(DemoDriver& d, io::TcpListener& listener, int n) {
    auto incoming = listener.incoming(d);
    std::size_t got = 0;
    for (int i = 0; i < n; ++i) {
        auto conn = co_await incoming.next();
        REQUIRE(conn);
        ++got;
    }
    co_return got;
}

Task<std::uint64_t> drain(DemoDriver& d, int fd, std::shared_ptr<BufferRing> ring, std::size_t& bytes) {
    auto chunks = recv_stream(d, fd, ring);
    std::uint64_t sum = 1469598103934665603ull;
    for (;;) {
        auto chunk = co_await chunks.next();
        REQUIRE(chunk);
        if (chunk->size() == 0) break;
        for (auto b : *chunk) sum = (sum ^ std::uint64_t(b)) * 1099511628211ull;
        bytes += chunk->size();
    }
    co_return sum;
}
} // namespace

TEST_CASE("demo driver: multishot accept while clients connect from another thread") {
    auto d = test::make_driver<DemoDriver>();
    auto listener = io::TcpListener::bind(*io::SocketAddress::v4("127.0.0.1", 0)).value();
    const auto at = listener.local_address().value();
    std::jthread clients([&] {
        std::vector<test::Fd> fds;
        for (int i = 0; i < 20; ++i) {
            fds.emplace_back(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
            ::connect(fds.back().get(), at.data(), at.size());
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    });
    CHECK(block_on(*d, accept_n(*d, listener, 20)) == 20u);
}

TEST_CASE("demo driver: multishot recv over a ring that runs dry, checksummed") {
    auto d = test::make_driver<DemoDriver>();
    auto ring = BufferRing::create(*d, 4, 1024).value();
    test::SocketPair sp;
    std::vector<std::byte> data(256 * 1024);
    std::mt19937_64 rng(11);
    for (auto& b : data) b = std::byte(rng());
    std::jthread writer([&] {
        std::size_t sent = 0;
        while (sent < data.size()) {
            const ssize_t n = ::write(sp.b.get(), data.data() + sent, std::min<std::size_t>(4096, data.size() - sent));
            if (n <= 0) break;
            sent += std::size_t(n);
        }
        ::shutdown(sp.b.get(), SHUT_WR);
    });
    std::size_t bytes = 0;
    const auto sum = block_on(*d, drain(*d, sp.a.get(), ring, bytes));
    writer.join();
    CHECK(bytes == data.size());
    CHECK(sum == test::fnv1a(data));
}
