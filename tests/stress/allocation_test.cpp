// SPDX-License-Identifier: MIT
// Zero heap allocations per op in steady state on the LocalDriver: completion states and
// coroutine frames are recycled, SQE slots and CQE batches need no memory.
#include <catch2/catch_test_macros.hpp>

#include <unistd.h>

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <utility>
#include <vector>

import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using drivers::LocalDriver;

// A counting allocator hook: every global operator new in this executable goes through here.
namespace {
std::atomic<bool> counting{false};
std::atomic<long> allocations{0};
} // namespace

void* operator new(std::size_t n) {
    if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return ::operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
// The recycler's blocks are 64-byte aligned: count those too.
void* operator new(std::size_t n, std::align_val_t a) {
    if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::aligned_alloc(std::size_t(a), (n + std::size_t(a) - 1) & ~(std::size_t(a) - 1)))
        return p;
    throw std::bad_alloc();
}
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace {

struct Window {
    long before;
    Window() : before(allocations.load()) { counting = true; }
    long stop() {
        counting = false;
        return allocations.load() - before;
    }
};

Task<void> nops(LocalDriver& d, int n) {
    for (int i = 0; i < n; ++i) (void)co_await submit(d, events::Nop{});
}

Task<void> reads(LocalDriver& d, int fd, int n) {
    std::vector<std::byte> buf(4096);
    for (int i = 0; i < n; ++i) {
        auto [read, r] = co_await submit(d, events::Read<>{fd, std::move(buf), std::uint64_t(i % 16) * 4096});
        buf = std::move(read.buf);
    }
}

template <class R>
Task<void> ring_reads(R& ring, int n) {
    std::byte out[512];
    for (int i = 0; i < n; ++i) (void)co_await ring.read(out);
}

} // namespace

// Allocations made while running `run(n)` for n ops, after a warm-up.
template <class Run>
long allocations_for(Run&& run, int n) {
    Window w;
    run(n);
    return w.stop();
}

// What matters: allocations do not grow with the number of ops. The fixed part (block_on's
// root frame, a buffer made once) differs by build type — Release elides the root frame — so it
// is bounded, not pinned.
TEST_CASE("heap allocations do not grow with the number of ops", "[alloc]") {
    // ASan builds send recycled blocks to the heap on purpose (so ASan sees a use after free).
    if (test::asan_build) SKIP("the asan preset bypasses the free lists");
    auto d = LocalDriver::create({.entries = 64}).value();
    SECTION("nop through submit") {
        auto run = [&](int n) { block_on(*d, nops(*d, n)); };
        run(1000); // warm the free lists
        const long small = allocations_for(run, 1'000);
        const long large = allocations_for(run, 100'000);
        CHECK(large == small);
        CHECK(large <= 2);
    }
    SECTION("read through submit, the buffer moving in and out") {
        test::Fd f = test::temp_file();
        REQUIRE(::ftruncate(f.get(), 16 * 4096) == 0);
        auto run = [&](int n) { block_on(*d, reads(*d, f.get(), n)); };
        run(1000);
        const long small = allocations_for(run, 1'000);
        const long large = allocations_for(run, 100'000);
        CHECK(large == small);
        CHECK(large <= 3);
    }
    SECTION("Ring::read over a pooled policy") {
        test::Fd f = test::temp_file();
        REQUIRE(::ftruncate(f.get(), 64 << 20) == 0);
        auto pool = BufferPool::create(4, 4096, WhenEmpty::wait).value();
        Ring ring(*d, io::File(io::OwnedFd(::dup(f.get()))), policies::Pooled{pool});
        auto run = [&](int n) { block_on(*d, ring_reads(ring, n)); };
        run(1000);
        const long small = allocations_for(run, 1'000);
        const long large = allocations_for(run, 100'000); // ~12,500 kernel reads
        CHECK(large == small);
        CHECK(large <= 2);
    }
}
