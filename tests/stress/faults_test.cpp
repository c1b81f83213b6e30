// SPDX-License-Identifier: MIT
// Under injected faults (parked requests, EBUSY/EAGAIN submits, EINTR waits, failed and short
// ops) every Ring operation either moves the right bytes or returns an error: round trips
// stay byte-exact when the caller retries what the errors allow.
#include <catch2/catch_template_test_macros.hpp>
#include <catch2/catch_test_macros.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <span>
#include <utility>
#include <vector>

import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using drivers::LocalDriver;

namespace {

using Faulty = test::FaultyDriver<LocalDriver>;

std::uint64_t seed_from_env() {
    if (const char* s = std::getenv("RINGBAHN_SEED")) return std::strtoull(s, nullptr, 10);
    return std::random_device{}();
}

bool retryable(const std::error_code& e) {
    return e == std::errc::interrupted || e == std::errc::operation_canceled;
}

// write() one call at a time: a failed call wrote nothing (it never ran), so retrying is exact.
template <class R>
Task<void> produce(R& ring, const std::vector<std::byte>& data, long& errors) {
    std::span<const std::byte> rest(data);
    while (!rest.empty()) {
        auto n = co_await ring.write(rest.first(std::min<std::size_t>(rest.size(), 3001)));
        if (!n) {
            REQUIRE(retryable(n.error()));
            ++errors;
            continue;
        }
        rest = rest.subspan(*n);
    }
    (void)co_await ring.close();
}

template <class R>
Task<std::vector<std::byte>> consume(R& ring, long& errors) {
    std::vector<std::byte> got;
    std::byte chunk[2048];
    for (;;) {
        auto n = co_await ring.read(chunk);
        if (!n) {
            REQUIRE(retryable(n.error()));
            ++errors;
            continue;
        }
        if (*n == 0) co_return got;
        got.insert(got.end(), chunk, chunk + *n);
    }
}

template <class Policy>
void round_trip(std::uint64_t seed, Policy policy_a, Policy policy_b, bool tcp) {
    Faulty* self = nullptr;
    auto inner = LocalDriver::create({.entries = 16, .faults = Faulty::hooks(self)}).value();
    Faulty d(*inner, {.seed = seed}, self);
    const std::vector<std::byte> data = test::random_bytes(1 << 20, seed);
    long errors = 0;
    std::vector<std::byte> got;
    if (tcp) {
        auto l = io::TcpListener::bind(*io::SocketAddress::parse("127.0.0.1:0")).value();
        test::Fd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        const auto at = l.local_address().value();
        REQUIRE(::connect(c.get(), at.data(), at.size()) == 0);
        test::Fd s(::accept4(l.native_handle(), nullptr, nullptr, SOCK_CLOEXEC));
        Ring writer(d, io::TcpStream(io::OwnedFd(std::exchange(c.fd, -1))), std::move(policy_a));
        Ring reader(d, io::TcpStream(io::OwnedFd(std::exchange(s.fd, -1))), std::move(policy_b));
        d.spawn(produce(writer, data, errors));
        got = block_on(d, consume(reader, errors));
    } else {
        auto p = io::pipe().value();
        Ring writer(d, std::move(p.second), std::move(policy_a));
        Ring reader(d, std::move(p.first), std::move(policy_b));
        d.spawn(produce(writer, data, errors));
        got = block_on(d, consume(reader, errors));
    }
    INFO("seed " << seed << " — rerun with RINGBAHN_SEED=" << seed);
    CHECK(got.size() == data.size());
    CHECK(test::fnv1a(got) == test::fnv1a(data));
    CHECK(d.counts.total() > 100); // the faults did happen
    CHECK(errors == d.counts.failed); // every injected failure surfaced once, as an error
    while (!d.idle()) d.turn();
}

} // namespace

TEST_CASE("Ring round trips stay byte-exact under injected faults", "[faults]") {
    const std::uint64_t seed = seed_from_env();
    INFO("seed " << seed);
    SECTION("pipe, heap") { round_trip(seed, policies::Heap<4096>{}, policies::Heap<4096>{}, false); }
    SECTION("tcp, heap") { round_trip(seed, policies::Heap<4096>{}, policies::Heap<4096>{}, true); }
    SECTION("pipe, pooled") {
        auto pool = BufferPool::create(4, 4096, WhenEmpty::wait).value();
        round_trip(seed, policies::Pooled{pool}, policies::Pooled{pool}, false);
        CHECK(pool->available() == 4);
    }
}
