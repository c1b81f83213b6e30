// SPDX-License-Identifier: MIT
// Ring<IO, Policy>: every policy x {file, pipe, TCP} moves bytes intact; read_until, fill_buf,
// read deadlines; bad fds and resets are errors; a Ring cut short returns its buffer after the
// CQE.
#include <catch2/catch_template_test_macros.hpp>
#include <catch2/catch_test_macros.hpp>

#include <fcntl.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <utility>
#include <variant>
#include <vector>

import ringbahn;
import ringbahn.test_support;
import ringbahn.test_checks;

using namespace ringbahn;
using drivers::DemoDriver;
using drivers::LocalDriver;
using namespace std::chrono_literals;

namespace {

constexpr std::size_t buf_size = 4096;

struct HeapKind {
    template <class D>
    static auto make(D&) { return policies::Heap<buf_size>{}; }
};
struct PooledKind {
    template <class D>
    static auto make(D&) {
        return policies::Pooled{BufferPool::create(8, buf_size, WhenEmpty::wait).value()};
    }
};
struct RegisteredKind {
    template <class D>
    static auto make(D& d) { return policies::Registered::create(d, 8, buf_size, WhenEmpty::wait).value(); }
};

template <class Policy, class D>
void round_trip_stream(D& d, const Policy& policy, io::Stream rd_io, io::Stream wr_io, std::size_t size) {
    test::stream_and_check(d, policy, std::move(wr_io), std::move(rd_io),
                           test::pattern(size, size));
}

template <class Policy, class D>
void round_trip_tcp(D& d, const Policy& policy, std::size_t size) {
    auto listener = io::TcpListener::bind(*io::SocketAddress::parse("127.0.0.1:0")).value();
    const auto addr = listener.local_address().value();
    auto client = block_on(d, io::TcpStream::connect(d, addr)).value();
    auto served = block_on(d, listener.accept(d)).value();
    test::stream_and_check(d, policy, std::move(client), std::move(served),
                           test::pattern(size, size + 1));
}

template <class R>
Task<Result<void>> write_file(R& ring, const std::vector<std::byte>& data) {
    co_return co_await ring.write_all(data);
}

template <class Policy, class D>
void round_trip_file(D& d, const Policy& policy, std::size_t size) {
    auto data = test::pattern(size, size + 2);
    test::Fd f = test::temp_file();
    Ring writer(d, io::File(io::OwnedFd(::dup(f.get()))), policy);
    REQUIRE(block_on(d, write_file(writer, data)).has_value());
    CHECK(writer.position() == size);
    Ring reader(d, io::File(io::OwnedFd(::dup(f.get()))), policy);
    auto [sum, n] = block_on(d, test::consume_all(reader, size));
    CHECK(n == size);
    CHECK(sum == test::fnv1a(data));
    CHECK(reader.position() == size);
}

} // namespace

TEMPLATE_TEST_CASE("every policy moves bytes intact over a file, a pipe and TCP", "[ring]",
                   HeapKind, PooledKind, RegisteredKind) {
    auto d = test::make_driver<LocalDriver>(64);
    const auto policy = TestType::make(*d); // registered: once per ring
    for (std::size_t size : {std::size_t{0}, std::size_t{1}, buf_size - 1, buf_size, buf_size + 1,
                             std::size_t{1} << 20}) {
        CAPTURE(size);
        round_trip_file(*d, policy, size);
        auto p = io::pipe().value();
        round_trip_stream(*d, policy, std::move(p.first), std::move(p.second), size);
        round_trip_tcp(*d, policy, size);
    }
}

TEMPLATE_TEST_CASE("64 MiB through every policy, checksummed", "[ring][large]", HeapKind,
                   PooledKind, RegisteredKind) {
    auto d = test::make_driver<LocalDriver>(64);
    const auto policy = TestType::make(*d);
    constexpr std::size_t size = 64u << 20;
    SECTION("file") { round_trip_file(*d, policy, size); }
    SECTION("pipe") {
        auto p = io::pipe().value();
        round_trip_stream(*d, policy, std::move(p.first), std::move(p.second), size);
    }
    SECTION("tcp") { round_trip_tcp(*d, policy, size); }
}

TEMPLATE_TEST_CASE("the demo driver carries Rings too", "[ring][threads]", HeapKind, PooledKind,
                   RegisteredKind) {
    auto d = test::make_driver<DemoDriver>(64);
    const auto policy = TestType::make(*d);
    round_trip_tcp(*d, policy, 3u << 20);
    auto p = io::socket_pair().value();
    round_trip_stream(*d, policy, std::move(p.first), std::move(p.second), 1u << 20);
}

namespace {
template <class R>
Task<std::vector<std::string>> lines(R& ring) {
    std::vector<std::string> out;
    for (;;) {
        std::vector<std::byte> line;
        auto n = co_await ring.read_until(std::byte{'\n'}, line);
        REQUIRE(n.has_value());
        if (*n == 0) co_return out;
        out.push_back(test::text(line));
    }
}
template <class R>
Task<std::string> peek_then_consume(R& ring) {
    auto data = co_await ring.fill_buf();
    REQUIRE(data.has_value());
    std::string first = test::text(data->first(3));
    ring.consume(3);
    auto again = co_await ring.fill_buf(); // the rest, from the same buffer: no new read
    REQUIRE(again.has_value());
    co_return first + "|" + test::text(*again);
}
} // namespace

TEST_CASE("read_until splits lines, across buffer boundaries", "[ring]") {
    auto d = test::make_driver<LocalDriver>();
    test::Fd f = test::temp_file();
    std::string text;
    for (int i = 0; i < 500; ++i) text += "line " + std::to_string(i) + std::string(i % 37, '.') + "\n";
    text += "no newline at the end";
    REQUIRE(::pwrite(f.get(), text.data(), text.size(), 0) == ssize_t(text.size()));
    Ring ring(*d, io::File(io::OwnedFd(::dup(f.get()))), policies::Heap<64>{});
    auto got = block_on(*d, lines(ring));
    REQUIRE(got.size() == 501);
    CHECK(got[0] == "line 0\n");
    CHECK(got[499] == "line 499" + std::string(499 % 37, '.') + "\n");
    CHECK(got[500] == "no newline at the end");
}

TEST_CASE("fill_buf and consume give zero-copy access to buffered bytes", "[ring]") {
    auto d = test::make_driver<LocalDriver>();
    auto p = io::pipe().value();
    REQUIRE(::write(p.second.native_handle(), "abcdefgh", 8) == 8);
    Ring ring(*d, std::move(p.first), policies::Heap<1024>{});
    CHECK(block_on(*d, peek_then_consume(ring)) == "abc|defgh");
}

TEMPLATE_TEST_CASE("an invalid fd and a reset connection are errors, not crashes", "[ring]",
                   HeapKind, PooledKind) {
    auto d = test::make_driver<LocalDriver>();
    SECTION("invalid fd") {
        Ring ring(*d, io::Stream(io::OwnedFd(::open("/dev/null", O_RDONLY | O_CLOEXEC))),
                  TestType::make(*d));
        ::close(ring.io().native_handle()); // the fd number is now invalid
        CHECK(block_on(*d, test::read_some(ring)).error() == std::errc::bad_file_descriptor);
        (void)ring.io().release();
    }
    SECTION("peer resets the connection") {
        auto listener = io::TcpListener::bind(*io::SocketAddress::parse("[::1]:0")).value();
        auto client = block_on(*d, io::TcpStream::connect(*d, listener.local_address().value())).value();
        auto served = block_on(*d, listener.accept(*d)).value();
        Ring ring(*d, std::move(served), TestType::make(*d));
        linger hard{1, 0}; // close with RST
        REQUIRE(::setsockopt(client.native_handle(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard) == 0);
        { io::TcpStream gone = std::move(client); }
        CHECK(block_on(*d, test::read_some(ring)).error() == std::errc::connection_reset);
    }
}

namespace {
template <class R>
test::Probe read_forever(R& ring, std::atomic<int>& resumed) {
    std::vector<std::byte> out(16);
    (void)co_await ring.read(out);
    resumed.fetch_add(1);
}
template <class R>
test::Probe write_forever(R& ring, std::atomic<int>& resumed) {
    std::vector<std::byte> big(64 * 1024);
    (void)co_await ring.write_all(big);
    resumed.fetch_add(1);
}
} // namespace

TEST_CASE("a Ring destroyed mid-read or mid-write returns its buffer only after the CQE",
          "[ring][cancellation]") {
    auto d = test::make_driver<LocalDriver>();
    auto pool = BufferPool::create(4, 4096, WhenEmpty::wait).value();
    std::atomic<int> resumed{0};
    SECTION("mid-read: the Ring lives in the destroyed coroutine") {
        auto p = io::pipe().value();
        auto owner = [](auto& d, io::Stream s, auto policy, auto& resumed) -> test::Probe {
            Ring ring(d, std::move(s), std::move(policy));
            std::vector<std::byte> out(16);
            (void)co_await ring.read(out);
            resumed.fetch_add(1);
        };
        auto probe = owner(*d, std::move(p.first), policies::Pooled{pool}, resumed);
        d->poll();
        CHECK(pool->available() == 3); // leased to the in-flight read
        probe.reset();                  // the coroutine, its Ring and its read go away
        CHECK(pool->available() == 3); // the kernel still owns it: no CQE yet
        while (d->in_flight() > 0) d->run_once();
        CHECK(pool->available() == 4);
    }
    SECTION("mid-write: the pipe is full, the write waits") {
        auto p = io::pipe().value();
        Ring ring(*d, std::move(p.second), policies::Pooled{pool});
        const std::vector<std::byte> fill(1 << 16);
        REQUIRE(::write(ring.io().native_handle(), fill.data(), fill.size()) == ssize_t(fill.size()));
        auto probe = write_forever(ring, resumed);
        d->poll();
        CHECK(pool->available() == 3);
        probe.reset();
        CHECK(pool->available() == 3);
        while (d->in_flight() > 0) d->run_once();
        CHECK(pool->available() == 4);
    }
    CHECK(resumed.load() == 0);
}

TEST_CASE("Ring read deadline: timed_out, and the next read still gets the data") {
    auto d = test::make_driver<LocalDriver>();
    auto [r, w] = io::pipe().value();
    Ring ring(*d, std::move(r));
    REQUIRE(ring.set_read_timeout(20ms));
    std::byte out[16];
    auto first = block_on(*d, ring.read(out));
    CHECK(first.error() == std::errc::timed_out);
    ::write(w.native_handle(), "late", 4);
    auto second = block_on(*d, ring.read(out));
    REQUIRE(second == 4u);
}
