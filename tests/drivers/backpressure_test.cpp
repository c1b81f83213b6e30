// SPDX-License-Identifier: MIT
// Full queues are backpressure, never an error: 10,000 ops through a ring of 4 entries.
#include <catch2/catch_template_test_macros.hpp>
#include <catch2/catch_test_macros.hpp>

#include <unistd.h>

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using drivers::DemoDriver;
using drivers::LocalDriver;

namespace {

struct Tally {
    std::atomic<int> ok{0};
    std::atomic<int> failed{0};
    std::atomic<int> left;
    DoneSignal all_done;
    explicit Tally(int n) : left(n) {}
    void finish(bool good) {
        (good ? ok : failed).fetch_add(1);
        if (left.fetch_sub(1) == 1) all_done.set();
    }
};

template <class D>
Task<void> one_nop(D& d, Tally& t) {
    auto [n, r] = co_await submit(d, events::Nop{});
    t.finish(r.has_value());
}

template <class D>
Task<void> one_write(D& d, int fd, std::uint64_t offset, Tally& t) {
    std::vector<std::byte> buf(8, static_cast<std::byte>(offset / 8 % 251));
    auto [w, r] = co_await submit(d, events::Write<>{fd, std::move(buf), offset});
    t.finish(r.has_value() && *r == 8);
}

} // namespace

TEMPLATE_TEST_CASE("10,000 ops through a ring of 4 entries all complete", "[backpressure][threads]",
                   LocalDriver, DemoDriver) {
    auto d = test::make_driver<TestType>(4);
    constexpr int ops = 10'000;
    SECTION("nops") {
        Tally t(ops);
        for (int i = 0; i < ops; ++i) d->spawn(one_nop(*d, t));
        d->run_until(t.all_done);
        CHECK(t.ok.load() == ops);
        CHECK(t.failed.load() == 0);
    }
    SECTION("writes at distinct offsets, every byte checked") {
        test::Fd f = test::temp_file();
        Tally t(ops);
        for (int i = 0; i < ops; ++i) d->spawn(one_write(*d, f.get(), std::uint64_t(i) * 8, t));
        d->run_until(t.all_done);
        REQUIRE(t.ok.load() == ops);
        std::vector<unsigned char> back(ops * 8);
        REQUIRE(::pread(f.get(), back.data(), back.size(), 0) == ssize_t(back.size()));
        int wrong = 0;
        for (int i = 0; i < ops * 8; ++i) wrong += back[i] != (i / 8) % 251;
        CHECK(wrong == 0);
    }
    // Every spawned task finished and was freed. (On the demo driver the last task may still be
    // between its finish() and its end on the reaper thread: the count is exact only here.)
    if constexpr (std::is_same_v<TestType, LocalDriver>) CHECK(d->spawned() == 0);
}
