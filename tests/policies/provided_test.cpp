// SPDX-License-Identifier: MIT
// policies::Provided: Ring<TcpStream, Provided> with more idle connections than buffers holds
// none while idle.
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
Task<void> echo_once(LocalDriver& d, io::TcpStream s, policies::Provided policy, int& done, std::uint64_t& sum) {
    Ring ring(d, std::move(s), std::move(policy));
    std::byte buf[100];
    auto r = co_await ring.read_exact(buf);
    REQUIRE(r);
    sum += test::fnv1a(buf);
    ++done;
}
} // namespace

TEST_CASE("Ring<TcpStream, Provided>: more idle connections than buffers, none held while idle") {
    auto d = test::make_driver<LocalDriver>(512);
    auto ring = ProvidedBuffers::create(*d, 8, 4096).value();
    constexpr int conns = 64;
    std::vector<test::SocketPair> pairs(conns);
    int done = 0;
    std::uint64_t sum = 0;
    for (auto& p : pairs)
        d->spawn(echo_once(*d, io::TcpStream(io::OwnedFd(std::exchange(p.a.fd, -1))), policies::Provided(ring), done, sum));
    for (int i = 0; i < 3; ++i) d->poll();
    CHECK(d->in_flight() == std::uint32_t(conns)); // 64 reads waiting...
    CHECK(ring->available() == 8u);                // ...holding no buffer
    std::vector<std::byte> msg(100);
    std::uint64_t expected = 0;
    for (int i = 0; i < conns; ++i) {
        for (auto& b : msg) b = std::byte(i);
        expected += test::fnv1a(msg);
        REQUIRE(::write(pairs[i].b.get(), msg.data(), msg.size()) == 100);
    }
    block_on(*d, test::tick_until(*d, done, conns));
    CHECK(sum == expected);
    CHECK(ring->available() == 8u);
}
