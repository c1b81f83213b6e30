// SPDX-License-Identifier: MIT
// Streams on the demo driver: the reaper thread appends CQEs to a stream's inbox while the
// stream's coroutine takes them (run under TSan: label "threads").
#include <catch2/catch_test_macros.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <coroutine>
#include <cstddef>
#include <memory>
#include <random>
#include <thread>
#include <vector>

import ringbahn;
import ringbahn.test_support;

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

Task<void> drain(DemoDriver& d, int fd, std::shared_ptr<ProvidedBuffers> ring, test::Fnv1a& got) {
    auto chunks = recv_stream(d, fd, ring);
    for (;;) {
        auto chunk = co_await chunks.next();
        REQUIRE(chunk);
        if (chunk->size() == 0) break;
        got.add(*chunk);
    }
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
    auto ring = ProvidedBuffers::create(*d, 4, 1024).value();
    test::SocketPair sp;
    const auto data = test::random_bytes(256 * 1024, 11);
    auto writer = test::write_then_shutdown(sp.b.get(), data, 4096);
    test::Fnv1a got;
    block_on(*d, drain(*d, sp.a.get(), ring, got));
    writer.join();
    CHECK(got.bytes == data.size());
    CHECK(got.sum == test::fnv1a(data));
}
