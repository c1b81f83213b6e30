// SPDX-License-Identifier: MIT
// The guarantee the library exists for: an awaiter that goes away never lets the kernel write
// into freed memory, and nothing the kernel produced for it leaks.
#include <catch2/catch_template_test_macros.hpp>
#include <catch2/catch_test_macros.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using drivers::DemoDriver;
using drivers::LocalDriver;
using Buf = std::vector<std::byte>;

namespace {

template <class D>
test::Probe read_once(D& d, int fd, test::TrackedBuffer buf, std::atomic<int>& got) {
    auto [r, n] = co_await submit(d, events::Read<test::TrackedBuffer>{fd, std::move(buf)});
    got.store(n ? static_cast<int>(*n) : -1);
}

template <class D>
test::Probe accept_once(D& d, int fd, std::atomic<int>& got) {
    auto conn = co_await submit(d, events::Accept{fd});
    got.store(conn ? conn->native_handle() : -1);
}

template <class D>
Task<std::uint32_t> read_some(D& d, int fd) {
    auto [r, n] = co_await submit(d, events::Read<>{fd, Buf(16)});
    co_return n.value();
}

std::unique_ptr<LocalDriver> local(bool defer_taskrun = true, std::uint32_t entries = 8) {
    return LocalDriver::create({.entries = entries, .defer_taskrun = defer_taskrun}).value();
}

} // namespace

TEST_CASE("a read destroyed while it waits on an empty pipe frees its buffer once, after its CQE",
          "[cancellation]") {
    auto d = local();
    test::Pipe p;
    test::BufferLedger frees;
    std::atomic<int> got{0};
    {
        auto probe = read_once(*d, p.read.get(), test::TrackedBuffer(64, frees), got);
        d->poll(); // submitted; nothing to read, so it stays with the kernel
        REQUIRE(d->in_flight() == 1);
    } // the coroutine is destroyed here: its read is cancelled
    CHECK(frees.freed() == 0); // the kernel still owns the buffer: no CQE reaped yet
    CHECK(d->in_flight() == 2); // the read and its ASYNC_CANCEL
    while (d->in_flight() > 0) d->run_once();
    CHECK(frees.freed() == 1); // freed once, after both CQEs
    CHECK(got.load() == 0);     // the awaiter never resumed
    // The driver keeps working.
    REQUIRE(::write(p.write.get(), "after", 5) == 5);
    CHECK(block_on(*d, read_some(*d, p.read.get())) == 5u);
}

TEST_CASE("data that arrives between cancel and reap is dropped with the buffer, not leaked",
          "[cancellation]") {
    auto d = local();
    test::Pipe p;
    test::BufferLedger frees;
    std::atomic<int> got{0};
    {
        auto probe = read_once(*d, p.read.get(), test::TrackedBuffer(64, frees), got);
        d->poll();
    }
    REQUIRE(::write(p.write.get(), "late", 4) == 4); // may complete the read before the cancel
    while (d->in_flight() > 0) d->run_once();
    CHECK(frees.freed() == 1);
    CHECK(got.load() == 0);
}

TEST_CASE("a submission destroyed while parked for an SQE is withdrawn and freed at once",
          "[cancellation][backpressure]") {
    // One SQ slot, and a kernel that answers every submit with EBUSY: the SQ stays full, so
    // the second read parks (ops in flight are not capped; only SQ slots are).
    static std::atomic<bool> busy{true};
    busy = true;
    auto d = LocalDriver::create({.entries = 1,
                                  .faults = {.before_submit = [](void*) noexcept {
                                      return busy.load() ? -EBUSY : 0;
                                  }}})
                 .value();
    test::Pipe p;
    test::BufferLedger frees;
    std::atomic<int> first{0}, second{0};
    auto holder = read_once(*d, p.read.get(), test::TrackedBuffer(8, frees), first);
    {
        auto parked = read_once(*d, p.read.get(), test::TrackedBuffer(8, frees), second);
        CHECK(d->in_flight() == 1); // only the first has an SQE
    }
    CHECK(frees.freed() == 1); // the parked one never reached the kernel: freed at once
    busy = false;
    REQUIRE(::write(p.write.get(), "x", 1) == 1);
    while (d->in_flight() > 0) d->run_once();
    CHECK(first.load() == 1);
    CHECK(second.load() == 0);
}

TEST_CASE("a cancelled accept whose connection arrived anyway closes the accepted fd",
          "[cancellation][fd]") {
    // Without DEFER_TASKRUN the kernel posts the accept's CQE as soon as the client connects:
    // the op is complete in the kernel but not reaped when its awaiter goes away.
    auto d = local(false);
    test::Listener l;
    std::atomic<int> got{0};
    const int before = test::fd_count();
    {
        auto probe = accept_once(*d, l.fd.get(), got);
        d->poll();
        REQUIRE(d->in_flight() == 1);
        test::Fd client = l.connect_client();
        REQUIRE(d->cqes_ready() == 1); // accepted in the kernel, not reaped
        CHECK(test::fd_count() == before + 2); // the client and the accepted socket
        probe.reset();                          // destroyed: the awaiter never sees the fd
        while (d->in_flight() > 0) d->run_once();
        CHECK(got.load() == 0);
        CHECK(test::fd_count() == before + 1); // the Cancellation closed the accepted fd
    }
    CHECK(test::fd_count() == before);
    // The connection was consumed (accepted, then closed), not left in the backlog.
    REQUIRE(::fcntl(l.fd.get(), F_SETFL, O_NONBLOCK) == 0);
    CHECK(::accept4(l.fd.get(), nullptr, nullptr, SOCK_CLOEXEC) == -1);
    CHECK(errno == EAGAIN);
}

namespace {
// Reads once, then destroys `victim` — like when_any dropping the loser — from inside the
// same CQE batch that holds the victim's already-posted CQE.
template <class D>
test::Probe read_then_drop(D& d, int fd, std::optional<test::Probe>& victim, std::atomic<int>& got) {
    auto [r, n] = co_await submit(d, events::Read<>{fd, Buf(8)});
    got.store(n ? static_cast<int>(*n) : -1);
    victim.reset();
}
} // namespace

TEST_CASE("an awaiter dropped after its CQE was reaped but before it was resumed still "
          "reclaims the fd",
          "[cancellation][fd]") {
    auto d = local(false); // CQEs posted as ops finish, so both land in one batch
    test::Pipe p;
    test::Listener l;
    REQUIRE(::write(p.write.get(), "go", 2) == 2);
    test::Fd client = l.connect_client(); // the accept completes as soon as it is submitted
    const int before = test::fd_count();
    std::atomic<int> read_got{0}, accept_got{0};
    std::optional<test::Probe> acceptor;
    auto reader = read_then_drop(*d, p.read.get(), acceptor, read_got); // SQE 1
    acceptor.emplace(accept_once(*d, l.fd.get(), accept_got));            // SQE 2
    d->poll(); // submit both; the batch holds the read's CQE, then the accept's
    while (d->in_flight() > 0) d->run_once();
    CHECK(read_got.load() == 2);
    CHECK(accept_got.load() == 0);        // dropped before it could be resumed
    CHECK(test::fd_count() == before);    // the accepted fd was closed by its Cancellation
}

TEST_CASE("a cancelled accept with no connection leaves no fd behind", "[cancellation][fd]") {
    auto d = local();
    test::Listener l;
    std::atomic<int> got{0};
    const int before = test::fd_count();
    {
        auto probe = accept_once(*d, l.fd.get(), got);
        d->poll();
    }
    while (d->in_flight() > 0) d->run_once();
    CHECK(test::fd_count() == before);
    // The cancel reached the kernel: a later client is not swallowed by a stale accept.
    test::Fd client = l.connect_client();
    REQUIRE(::fcntl(l.fd.get(), F_SETFL, O_NONBLOCK) == 0);
    test::Fd served(::accept4(l.fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
    CHECK(served.get() >= 0);
}

TEST_CASE("demo driver: a read destroyed on another thread than the reaper's is freed after "
          "its CQE, and the driver keeps working",
          "[cancellation][threads]") {
    auto d = DemoDriver::create({.entries = 8}).value();
    test::Pipe p;
    test::BufferLedger frees;
    std::atomic<int> got{0};
    std::jthread other([&] {
        for (int i = 0; i < 50; ++i) {
            auto probe = read_once(*d, p.read.get(), test::TrackedBuffer(64, frees), got);
            // The read is in the kernel (the demo driver submits at once) and cannot complete:
            // nothing writes to the pipe. No thread runs the driver's loop, so nothing can be
            // resuming the frame while this thread destroys it.
        }
    });
    other.join();
    // The reads that got an SQE are in the kernel, which still holds their buffers; the rest
    // waited for one and were withdrawn and freed at once.
    CHECK(frees.freed() < 50);
    REQUIRE(::write(p.write.get(), "still here", 10) == 10);
    // The loop completes the cancels (each Cancellation frees its buffer after its CQE).
    CHECK(block_on(*d, read_some(*d, p.read.get())) == 10u);
    d.reset();
    CHECK(frees.freed() == 50);
    CHECK(got.load() == 0);
}

namespace {
// Starts a read on a pipe that already holds a byte, lets the ring turn once, then drops the
// reader: its CQE may already be reaped (the reader ran), be in the same CQE batch as the nop
// (reaped, not yet dispatched), or not be posted yet (cancelled in the kernel). Every path
// must free the buffer exactly once.
template <class D>
Task<void> drop_racing_reads(D& d, test::BufferLedger& frees, int rounds, std::atomic<int>& got) {
    for (int i = 0; i < rounds; ++i) {
        test::Pipe p;
        REQUIRE(::write(p.write.get(), "r", 1) == 1);
        auto reader = read_once(d, p.read.get(), test::TrackedBuffer(8, frees), got);
        co_await submit(d, events::Nop{});
        reader.reset();
    }
}
} // namespace

TEMPLATE_TEST_CASE("awaiters dropped while their ops complete free every buffer exactly once",
                   "[cancellation][threads]", LocalDriver, DemoDriver) {
    auto d = test::make_driver<TestType>(16);
    test::BufferLedger frees;
    std::atomic<int> got{0};
    constexpr int rounds = 3000;
    block_on(*d, drop_racing_reads(*d, frees, rounds, got));
    d.reset(); // teardown reaps the cancels still in flight
    CHECK(frees.freed() == rounds);
}
