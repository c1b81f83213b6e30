// SPDX-License-Identifier: MIT
// Regression (issue 12, item 6): DemoDriver resumed coroutines on its reaper thread, so
// block_on(demo, when_any(...)) in a loop, and a main-thread deadline destroying a task whose op
// completed on the reaper at that moment, ended in heap-use-after-free or std::terminate (7 of 8
// runs with the machine loaded). The reaper now only reaps; the thread running the driver's
// loop (block_on) completes and resumes. Run with a CPU-burning thread per core: these races
// hide on an idle machine.
#include <catch2/catch_test_macros.hpp>
#include <atomic>
#include <chrono>
#include <random>
#include <thread>
#include <vector>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <coroutine>
import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using namespace std::chrono_literals;
using drivers::DemoDriver;

namespace {
// One spinning thread per core until destroyed.
struct Load {
    std::atomic<bool> stop{false};
    std::vector<std::jthread> burners;
    Load() {
        for (unsigned i = 0; i < std::max(2u, std::thread::hardware_concurrency()); ++i)
            burners.emplace_back([this] {
                while (!stop.load(std::memory_order_relaxed)) {}
            });
    }
    ~Load() { stop = true; }
};

Task<std::size_t> recv_or_deadline(DemoDriver& d, int fd, std::chrono::microseconds deadline) {
    auto r = co_await when_any(submit(d, events::Recv<>{fd, std::vector<std::byte>(256)}),
                               submit(d, events::Timeout(deadline)));
    auto& recv = r.get<0>();
    co_return recv.result ? std::size_t(*recv.result) : 0;
}
} // namespace

TEST_CASE("demo driver: block_on(when_any(recv, deadline)) in a loop while another thread sends, "
          "under load: every byte arrives",
          "[regression][threads][when_any]") {
    Load load;
    auto d = DemoDriver::create({.entries = 32}).value();
    test::SocketPair s;
    const auto sent = test::random_bytes(64 * 1024, 21);
    auto writer = test::write_then_shutdown(s.b.get(), sent, 100);
    std::mt19937_64 rng(8);
    std::size_t got = 0;
    for (int i = 0; i < 100000 && got < sent.size(); ++i)
        got += block_on(*d, recv_or_deadline(*d, s.a.get(), std::chrono::microseconds(rng() % 300)));
    CHECK(got == sent.size());
}

namespace {
test::Probe read_once(DemoDriver& d, int fd, test::BufferLedger& frees, std::atomic<int>& got) {
    auto [read, n] = co_await submit(d, events::Read<test::TrackedBuffer>{fd, test::TrackedBuffer(8, frees)});
    if (n) got += int(*n);
}
} // namespace

TEST_CASE("demo driver: the main thread destroys tasks whose ops complete at that moment, under "
          "load: each buffer freed once, no frame resumed after it is gone",
          "[regression][threads][cancel]") {
    Load load;
    auto d = DemoDriver::create({.entries = 64}).value();
    test::BufferLedger frees;
    std::atomic<int> got{0};
    constexpr int rounds = 2000;
    for (int i = 0; i < rounds; ++i) {
        test::Pipe p;
        auto reader = read_once(*d, p.read.get(), frees, got);
        std::jthread writer([&] { (void)::write(p.write.get(), "x", 1); }); // completes it now
        if (i % 2) writer.join();
        reader.reset(); // the "deadline": destroyed on this thread while the op completes
    }
    block_on(*d, []() -> Task<void> { co_return; }()); // a loop turn or two
    d.reset(); // teardown reaps what is left
    CHECK(frees.freed() == rounds);
    CHECK(got.load() == 0); // nobody resumed a destroyed reader
}
