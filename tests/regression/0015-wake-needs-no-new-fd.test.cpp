// SPDX-License-Identifier: MIT
// Found by the outside attack on issue 15's first step: a wake-up of another thread's driver
// (spawn_on, a Channel send to a receiver on another core, the Runtime's own stop) was a
// MSG_RING from a ring the *waking* thread made on first use. At the fd limit (EMFILE, where a
// busy server lives) that ring could not be made and the wake-up was lost without an error: the
// target core slept in io_uring_enter with the work in its inbox, for ever. Every LocalDriver
// now makes its waker ring with itself, so a wake-up never needs a new fd.
#include <catch2/catch_test_macros.hpp>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <coroutine>
#include <thread>
#include <vector>

import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using namespace std::chrono_literals;

namespace {
// Takes every free fd until destroyed.
struct FdHog {
    std::vector<int> fds;
    FdHog() {
        for (int fd; (fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) fds.push_back(fd);
    }
    ~FdHog() {
        for (int fd : fds) ::close(fd);
    }
};

bool within(std::chrono::milliseconds limit, const std::atomic<bool>& flag) {
    for (auto until = std::chrono::steady_clock::now() + limit; !flag.load();)
        if (std::chrono::steady_clock::now() > until) return false;
        else std::this_thread::sleep_for(1ms);
    return true;
}
} // namespace

TEST_CASE("wake-ups reach other cores with no fd left in the process", "[runtime]") {
    ::rlimit saved{};
    ::getrlimit(RLIMIT_NOFILE, &saved);
    ::rlimit low{256, saved.rlim_max};
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
    {
        auto rt = Runtime::create({.cores = 2}).value();
        auto ch = Channel<int>::create(4).value();
        std::atomic<bool> spawned_ran{false}, received{false}, go{false};
        auto receiver = [](Channel<int> c, std::atomic<bool>& got) -> Task<void> {
            if (co_await c.recv()) got = true;
        };
        auto sender = [](Channel<int> c, std::atomic<bool>& start) -> Task<void> {
            while (!start) co_await Runtime::here()->submit(events::Timeout(1ms));
            (void)co_await c.send(1); // wakes core 0's receiver: a MSG_RING from core 1
        };
        REQUIRE(rt->spawn_on(0, receiver(ch, received)));
        REQUIRE(rt->spawn_on(1, sender(ch, go)));
        std::this_thread::sleep_for(20ms); // the receiver is parked on core 0
        {
            FdHog hog;
            REQUIRE(::open("/dev/null", O_RDONLY) == -1); // no fd left
            // From this (non-core) thread, and from core 1 to core 0.
            REQUIRE(rt->spawn_on(1, [](std::atomic<bool>& ran) -> Task<void> {
                ran = true;
                co_return;
            }(spawned_ran)));
            go = true;
            CHECK(within(2s, spawned_ran));
            CHECK(within(2s, received));
            rt->stop(); // its wake-ups too: this returns
        }
    }
    ::setrlimit(RLIMIT_NOFILE, &saved);
}
