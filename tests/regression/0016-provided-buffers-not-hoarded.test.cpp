// SPDX-License-Identifier: MIT
// Regression (issue 16): a Ring<_, Provided> read that found every provided buffer lent out
// waited for one to come back — forever, when the buffers sat with connections whose peers
// were slow (half a request each) or whose owners were busy. Now such a read waits for data
// with a poll (no buffer held) and reads it into heap bytes, and a Ring that consumed part of
// a chunk copies the rest out while the ring runs low, giving the buffer back at once.
#include <catch2/catch_test_macros.hpp>
#include <sys/socket.h>
#include <chrono>
#include <string>
#include <vector>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <cstring>
#include <coroutine>
import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using namespace std::chrono_literals;
using drivers::LocalDriver;

namespace {
constexpr int buffers = 4;
constexpr int hoarders = 8; // twice as many connections sitting on data as there are buffers
constexpr int served = 16;

// Reads a chunk, consumes a little of it, then sits on the rest until `gate` opens — the way a
// connection holding half a request (or an owner busy elsewhere) sits on its buffer.
Task<void> hoard(LocalDriver& d, io::TcpStream s, policies::Provided p, const bool& gate,
                 int& holding, std::string& got) {
    Ring ring(d, std::move(s), std::move(p));
    auto first = co_await ring.fill_buf();
    if (!first || first->empty()) co_return;
    got = test::text(first->first(10));
    ring.consume(10);
    ++holding;
    while (!gate) (void)co_await submit(d, events::Timeout(1ms));
    while (got.size() < 40) { // the rest, in order, wherever it is kept now
        auto rest = co_await ring.fill_buf();
        if (!rest || rest->empty()) co_return;
        got += test::text(*rest);
        ring.consume(rest->size());
    }
}

Task<void> serve(LocalDriver& d, io::TcpStream s, policies::Provided p, int& answered) {
    Ring ring(d, std::move(s), std::move(p));
    auto req = co_await ring.fill_buf();
    if (!req || test::text(*req) != "ping") co_return;
    ring.consume(4);
    if (co_await ring.write_all(test::bytes("pong"))) ++answered;
}
} // namespace

TEST_CASE("connections sitting on provided buffers never starve the others",
          "[regression][c10k]") {
    auto d = test::make_driver<LocalDriver>(64);
    auto ring = ProvidedBuffers::create(*d, buffers, 64).value();
    std::vector<test::SocketPair> slow(hoarders), fresh(served);
    bool gate = false;
    int holding = 0, answered = 0;
    std::vector<std::string> got(hoarders);
    for (int i = 0; i < hoarders; ++i) {
        const std::string msg = std::string(40, char('a' + i));
        REQUIRE(::write(slow[std::size_t(i)].b.get(), msg.data(), msg.size()) == 40);
        d->spawn(hoard(*d, io::TcpStream(io::OwnedFd(std::exchange(slow[std::size_t(i)].a.fd, -1))),
                       policies::Provided(ring), gate, holding, got[std::size_t(i)]));
    }
    block_on(*d, test::tick_until(*d, holding, hoarders, 2000ms));
    REQUIRE(holding == hoarders); // more connections sit on data than the ring has buffers
    // Those that consumed while the ring was low handed their buffer back: it is not all gone.
    CHECK(ring->available() >= 1u);

    for (int i = 0; i < served; ++i)
        d->spawn(serve(*d, io::TcpStream(io::OwnedFd(std::exchange(fresh[std::size_t(i)].a.fd, -1))),
                       policies::Provided(ring), answered));
    for (auto& f : fresh) REQUIRE(::write(f.b.get(), "ping", 4) == 4);
    block_on(*d, test::tick_until(*d, answered, served, 2000ms));
    CHECK(answered == served); // every other connection is still served
    for (auto& f : fresh) {
        char pong[4];
        CHECK(::read(f.b.get(), pong, 4) == 4);
    }

    gate = true; // the slow ones go on: each gets all of its 40 bytes, in order
    while (d->spawned() > 0) d->run_once();
    for (int i = 0; i < hoarders; ++i) CHECK(got[std::size_t(i)] == std::string(40, char('a' + i)));
    CHECK(ring->available() == std::uint32_t(buffers)); // every buffer back in the ring
}
