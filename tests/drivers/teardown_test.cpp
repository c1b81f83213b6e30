// SPDX-License-Identifier: MIT
// A driver destroyed with ops in flight: every Cancellation runs, nothing leaks, and awaiters
// that outlive their driver never touch it again.
#include <catch2/catch_template_test_macros.hpp>
#include <catch2/catch_test_macros.hpp>

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

template <class D>
Task<void> read_pipe(D& d, int fd, test::TrackedBuffer buf, std::atomic<int>& resumed) {
    auto [r, n] = co_await submit(d, events::Read<test::TrackedBuffer>{fd, std::move(buf)});
    resumed.fetch_add(1);
}

template <class D>
test::Probe probe_read(D& d, int fd, test::TrackedBuffer buf, std::atomic<int>& resumed) {
    auto [r, n] = co_await submit(d, events::Read<test::TrackedBuffer>{fd, std::move(buf)});
    resumed.fetch_add(1);
}

template <class D>
Task<void> accept_conn(D& d, int fd, std::atomic<int>& resumed) {
    auto conn = co_await submit(d, events::Accept{fd});
    resumed.fetch_add(1);
}

} // namespace

TEMPLATE_TEST_CASE("a driver destroyed with spawned ops in flight runs every cancellation",
                   "[teardown][threads]", LocalDriver, DemoDriver) {
    test::BufferLedger frees;
    std::atomic<int> resumed{0};
    std::vector<test::Pipe> pipes(100);
    test::Listener l;
    const int fds_before = test::fd_count();
    {
        auto d = test::make_driver<TestType>(256);
        for (auto& p : pipes) d->spawn(read_pipe(*d, p.read.get(), test::TrackedBuffer(32, frees), resumed));
        for (int i = 0; i < 10; ++i) d->spawn(accept_conn(*d, l.fd.get(), resumed));
        if constexpr (std::is_same_v<TestType, LocalDriver>) d->poll();
        CHECK(d->spawned() == 110);
        CHECK(frees.freed() == 0);
    } // teardown
    CHECK(frees.freed() == 100);
    CHECK(resumed.load() == 0);
    CHECK(test::fd_count() == fds_before); // the ring's own fd is closed too
}

TEMPLATE_TEST_CASE("an awaiter that outlives its driver is orphaned, then freed without it",
                   "[teardown][threads]", LocalDriver, DemoDriver) {
    test::BufferLedger frees;
    std::atomic<int> resumed{0};
    test::Pipe p1, p2;
    std::optional<test::Probe> in_flight, parked;
    {
        auto d = test::make_driver<TestType>(1); // one op in flight: the second parks
        in_flight.emplace(probe_read(*d, p1.read.get(), test::TrackedBuffer(16, frees), resumed));
        parked.emplace(probe_read(*d, p2.read.get(), test::TrackedBuffer(16, frees), resumed));
        if constexpr (std::is_same_v<TestType, LocalDriver>) d->poll();
    } // the driver is gone; the kernel is done with both ops
    CHECK(resumed.load() == 0);   // nobody was resumed by a dying driver
    CHECK(frees.freed() == 0);    // the buffers still belong to the (suspended) awaiters
    in_flight.reset();            // runs its Cancellation with the stored CQE, no driver call
    parked.reset();               // never reached the kernel
    CHECK(frees.freed() == 2);
}

TEMPLATE_TEST_CASE("10,000 ops in flight at teardown: all cancelled and reclaimed",
                   "[teardown][threads]", LocalDriver, DemoDriver) {
    test::BufferLedger frees;
    std::atomic<int> resumed{0};
    test::Pipe p;
    constexpr int ops = 10'000;
    {
        auto d = test::make_driver<TestType>(64); // ops in flight are not capped by the ring
        for (int i = 0; i < ops; ++i)
            d->spawn(read_pipe(*d, p.read.get(), test::TrackedBuffer(16, frees), resumed));
        if constexpr (std::is_same_v<TestType, LocalDriver>) {
            d->poll(); // all in the kernel: the SQ was flushed whenever it filled
            CHECK(d->in_flight() == std::uint32_t(ops));
        }
        CHECK(d->spawned() == std::size_t(ops));
    }
    CHECK(frees.freed() == ops);
    CHECK(resumed.load() == 0);
}
