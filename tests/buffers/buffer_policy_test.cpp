// SPDX-License-Identifier: MIT
// BufferPolicy: a user's own policy models the concept and moves data through a Ring.
#include <catch2/catch_template_test_macros.hpp>
#include <catch2/catch_test_macros.hpp>

#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <random>
#include <span>
#include <utility>
#include <vector>

#include "../../examples/counting_policy.hpp"

import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using drivers::LocalDriver;

namespace {

std::vector<std::byte> pattern(std::size_t n, std::uint64_t seed) {
    std::vector<std::byte> v(n);
    std::mt19937_64 rng(seed);
    for (std::size_t i = 0; i < n; i += 8) {
        const std::uint64_t x = rng();
        std::memcpy(v.data() + i, &x, std::min<std::size_t>(8, n - i));
    }
    return v;
}

// Writes `data` in uneven slices through write/write_all, then closes (streams: the reader
// sees end of file).
template <class R>
Task<void> produce(R& ring, const std::vector<std::byte>& data, bool& ok) {
    std::span<const std::byte> rest(data);
    std::size_t slice = 1;
    while (!rest.empty()) {
        const std::size_t n = std::min(rest.size(), slice);
        auto r = co_await ring.write_all(rest.first(n));
        if (!r) co_return;
        rest = rest.subspan(n);
        slice = slice * 3 % 20011 + 1; // odd sizes, some above the buffer size
    }
    ok = (co_await ring.close()).has_value();
}

// Reads to end of file with read() into odd-sized spans; returns the checksum and count.
template <class R>
Task<std::pair<std::uint64_t, std::size_t>> consume_all(R& ring, std::size_t expected) {
    std::vector<std::byte> got;
    got.reserve(expected);
    std::vector<std::byte> chunk(7777);
    for (;;) {
        auto n = co_await ring.read(chunk);
        REQUIRE(n.has_value());
        if (*n == 0) break;
        got.insert(got.end(), chunk.begin(), chunk.begin() + long(*n));
    }
    co_return std::pair{test::fnv1a(got), got.size()};
}

// Streams `data` from one end to the other (the writer spawned, the reader awaited) and checks
// that every byte arrived and the writer closed cleanly.
template <class Policy, class D, class WriteIO, class ReadIO>
void stream_and_check(D& d, const Policy& policy, WriteIO wr_io, ReadIO rd_io,
                      const std::vector<std::byte>& data) {
    Ring writer(d, std::move(wr_io), policy);
    Ring reader(d, std::move(rd_io), policy);
    bool ok = false;
    d.spawn(produce(writer, data, ok));
    auto [sum, n] = block_on(d, consume_all(reader, data.size()));
    CHECK(n == data.size());
    CHECK(sum == test::fnv1a(data));
    CHECK(ok);
}

} // namespace

namespace {
struct MissingKeepLeases {
    using Lease = policies::HeapBuffer<64>;
    static constexpr bool registered = false;
    Ready<Result<Lease>> acquire(Poster) { return {Lease{}}; }
};
struct RegisteredWithoutIndex {
    using Lease = policies::HeapBuffer<64>;
    static constexpr bool registered = true;
    static constexpr bool keep_leases = true;
    Ready<Result<Lease>> acquire(Poster) { return {Lease{}}; }
};
} // namespace

TEST_CASE("a user's own policy models BufferPolicy and moves data", "[ring][custom]") {
    STATIC_REQUIRE(BufferPolicy<CountingPolicy>);
    STATIC_REQUIRE(BufferPolicy<policies::Heap<>>);
    STATIC_REQUIRE(BufferPolicy<policies::Pooled>);
    STATIC_REQUIRE(BufferPolicy<policies::Registered>);
    STATIC_REQUIRE_FALSE(BufferPolicy<MissingKeepLeases>);
    STATIC_REQUIRE_FALSE(BufferPolicy<RegisteredWithoutIndex>);

    auto d = test::make_driver<LocalDriver>();
    LeaseCounters counters;
    auto p = io::pipe().value();
    stream_and_check(*d, CountingPolicy{512, &counters}, std::move(p.second), std::move(p.first),
                     pattern(100'000, 7));
    CHECK(counters.taken.load() > 100'000 / 512);
    CHECK(counters.outstanding() == 0);
}
