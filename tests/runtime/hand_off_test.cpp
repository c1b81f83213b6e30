// SPDX-License-Identifier: MIT
// Accept once, serve anywhere: core 0 accepts, each connection is handed to a core by pick(),
// and one handed to a stopping core is closed, never leaked.
#include <catch2/catch_test_macros.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <atomic>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using namespace std::chrono_literals;

namespace {

// Served on whichever core it was handed to; counts there (no Catch2 off the main thread).
Task<void> echo(Runtime& rt, io::TcpStream conn, std::array<std::atomic<int>, 2>& served) {
    Ring ring(*Runtime::here(), std::move(conn));
    ++served[rt.current_core().value()];
    while (auto data = co_await ring.fill_buf()) {
        if (data->empty() || !co_await ring.write_all(*data)) break;
        ring.consume(data->size());
    }
}

Task<void> accept_and_hand_off(Runtime& rt, int connections, std::atomic<int>& port,
                               std::array<std::atomic<int>, 2>& served, Placement how) {
    auto listener = io::TcpListener::bind(*Runtime::here(), *io::SocketAddress::v4("127.0.0.1", 0));
    REQUIRE(listener.has_value());
    port = listener->local_address()->port();
    for (int i = 0; i < connections; ++i) {
        auto conn = co_await listener->accept();
        REQUIRE(conn.has_value());
        REQUIRE(rt.spawn_on(rt.pick(how), echo(rt, std::move(*conn), served)));
    }
}

std::string round_trip(int port, const std::string& text) {
    test::Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    auto to = io::SocketAddress::v4("127.0.0.1", static_cast<std::uint16_t>(port)).value();
    if (::connect(fd.get(), to.data(), to.size()) != 0) return "connect failed";
    if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) return "write failed";
    std::string got(text.size(), '\0');
    std::size_t have = 0;
    while (have < got.size()) {
        const ssize_t n = ::read(fd.get(), got.data() + have, got.size() - have);
        if (n <= 0) return "read failed";
        have += static_cast<std::size_t>(n);
    }
    return got;
}

void serve_and_check(Placement how) {
    auto rt = Runtime::create({.cores = 2}).value();
    std::atomic<int> port{0};
    std::array<std::atomic<int>, 2> served{};
    constexpr int connections = 40;
    std::thread clients([&] {
        while (port.load() == 0) std::this_thread::sleep_for(1ms);
        for (int i = 0; i < connections; ++i) {
            const std::string text = "hello " + std::to_string(i);
            if (round_trip(port.load(), text) != text) std::abort(); // no Catch2 here
        }
    });
    rt->run(accept_and_hand_off(*rt, connections, port, served, how));
    clients.join();
    CHECK(served[0].load() + served[1].load() == connections);
    CHECK(served[1].load() > 0);
    // In turn: half each. Least loaded: core 0 always holds the accepting task, so core 1 gets
    // every connection that finds it idle (the clients here come one after another).
    if (how == Placement::round_robin) CHECK(served[0].load() == served[1].load());
}

} // namespace

TEST_CASE("connections accepted on core 0 are served on the cores pick() chooses", "[hand_off]") {
    serve_and_check(Placement::round_robin);
    serve_and_check(Placement::least_loaded);
}

TEST_CASE("least_loaded picks the core with the fewest tasks alive", "[hand_off]") {
    auto rt = Runtime::create({.cores = 2}).value();
    std::atomic<int> alive{0};
    auto wait_forever = [](std::atomic<int>& a) -> Task<void> {
        ++a;
        co_await Runtime::here()->submit(events::Timeout(1h));
    };
    for (int i = 0; i < 3; ++i) REQUIRE(rt->spawn_on(0, wait_forever(alive)));
    while (alive.load() < 3) std::this_thread::sleep_for(1ms);
    CHECK(rt->load(0) == 3u);
    CHECK(rt->load(1) == 0u);
    CHECK(rt->pick(Placement::least_loaded) == 1u);
    CHECK(rt->load(9) == 0u);
}

TEST_CASE("a connection handed to a stopped core is closed, not leaked", "[hand_off]") {
    test::SocketPair pair;
    auto rt = Runtime::create({.cores = 2}).value();
    rt->stop();
    std::array<std::atomic<int>, 2> served{};
    const int fds_before = test::fd_count();
    auto refused = rt->spawn_on(1, echo(*rt, io::TcpStream(io::OwnedFd(std::exchange(pair.a.fd, -1))), served));
    CHECK((!refused && refused.error().value() == ESHUTDOWN));
    CHECK(test::fd_count() == fds_before - 1); // the handed connection is closed…
    char c;
    CHECK(::read(pair.b.get(), &c, 1) == 0); // …and its peer sees the end of the stream
    CHECK(served[1].load() == 0);
}
