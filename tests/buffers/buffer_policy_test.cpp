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
import ringbahn.test_checks;

using namespace ringbahn;
using drivers::LocalDriver;

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
    test::stream_and_check(*d, CountingPolicy{512, &counters}, std::move(p.second),
                           std::move(p.first), test::pattern(100'000, 7));
    CHECK(counters.taken.load() > 100'000 / 512);
    CHECK(counters.outstanding() == 0);
}
