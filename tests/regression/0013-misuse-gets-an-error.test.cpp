// SPDX-License-Identifier: MIT
// Found by the outside attack on issue 13's op-path step, three misuses that crashed or
// corrupted instead of answering with an error:
//  * LocalDriver stepped from a thread other than its owner: std::terminate (the kernel's EEXIST
//    for a SINGLE_ISSUER ring); destroyed there with ops in flight: the ring was unmapped under
//    them and a later awaiter's cancel used the freed driver.
//  * block_on over a task that waits for a pool lease nobody on this driver will return:
//    std::terminate. Now EDEADLK, as the task's Result (or a std::system_error).
//  * ProvidedBuffers used on a driver it is not registered with: the kernel took that driver's
//    buffer of the same group and id, and ours was lent out — both rings corrupted. Now EINVAL.
#include <catch2/catch_test_macros.hpp>
#include <sys/socket.h>
#include <expected>
#include <system_error>
#include <thread>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>
#include <utility>
#include <cerrno>
#include <coroutine>
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/lsan_interface.h>
#define RINGBAHN_TEST_LSAN 1
#endif
#endif
import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using drivers::LocalDriver;

namespace {
test::Probe one_read(LocalDriver& d, int fd, Result<std::uint32_t>& out) {
    auto r = co_await d.submit(events::Read{fd, std::vector<std::byte>(16)});
    out = r.result;
}
Task<Result<std::uint32_t>> nop(LocalDriver& d) {
    co_return (co_await d.submit(events::Nop{})).result;
}
} // namespace

TEST_CASE("a LocalDriver stepped from another thread answers EPERM", "[regression][threads]") {
    auto d = test::make_driver<LocalDriver>();
    test::Pipe p;
    Result<std::uint32_t> got = 0u;
    auto reader = one_read(*d, p.read.get(), got); // an SQE prepared by the owner
    Result<std::uint32_t> polled = 0u, ran = 0u;
    std::thread([&] {
        polled = d->poll();
        ran = block_on(*d, nop(*d));
    }).join();
    REQUIRE_FALSE(polled);
    CHECK(polled.error() == std::errc::operation_not_permitted);
    REQUIRE_FALSE(ran);
    CHECK(ran.error() == std::errc::operation_not_permitted);
    // The owner carries on: the read is still there, and completes.
    (void)!::write(p.write.get(), "x", 1);
    while (reader.handle && !reader.handle.done()) REQUIRE(d->run_once());
    REQUIRE(got);
    CHECK(*got == 1u);
}

TEST_CASE("a LocalDriver destroyed on another thread with an op in flight is left alive",
          "[regression][threads]") {
#ifdef RINGBAHN_TEST_LSAN
    // The point of the test: the driver and its abandoned op stay allocated for good.
    __lsan::ScopedDisabler intended_leak;
#endif
    const auto leaked = LocalDriver::leaked_on_foreign_thread();
    auto d = test::make_driver<LocalDriver>();
    test::Pipe p;
    Result<std::uint32_t> got = 0u;
    auto reader = one_read(*d, p.read.get(), got);
    REQUIRE(d->poll()); // in the kernel now
    std::thread([&] { d.reset(); }).join();
    CHECK(LocalDriver::leaked_on_foreign_thread() == leaked + 1);
    reader.reset(); // its cancel goes to a driver that is still there (no use-after-free)

    // With nothing in flight it tears down normally on any thread.
    auto idle = test::make_driver<LocalDriver>();
    std::thread([&] { idle.reset(); }).join();
    CHECK(LocalDriver::leaked_on_foreign_thread() == leaked + 1);
}

namespace {
using Pooled = Ring<io::Stream, policies::Pooled, LocalDriver>;
test::Probe hold_lease(Pooled& r) {
    auto data = co_await r.fill_buf(); // keeps the pool's only buffer, with unconsumed bytes
    REQUIRE(data);
}
Task<void> read_void(Pooled& r) {
    std::byte buf[16];
    (void)co_await r.read(buf);
}
} // namespace

TEST_CASE("block_on over a task that waits for a lease nothing will return is EDEADLK",
          "[regression][ring]") {
    auto d = test::make_driver<LocalDriver>();
    auto pool = BufferPool::create(1, 64, WhenEmpty::wait).value();
    auto [ra, wa] = io::pipe().value();
    auto [rb, wb] = io::pipe().value();
    (void)!::write(wa.native_handle(), "aaaa", 4);
    (void)!::write(wb.native_handle(), "bbbb", 4);
    Pooled a(*d, std::move(ra), policies::Pooled{pool});
    Pooled b(*d, std::move(rb), policies::Pooled{pool});
    auto holder = hold_lease(a);
    while (!holder.handle.done()) REQUIRE(d->run_once());
    auto n = block_on(*d, test::read_some(b));
    REQUIRE_FALSE(n);
    CHECK(n.error() == std::errc::resource_deadlock_would_occur);
    CHECK_THROWS_AS(block_on(*d, read_void(b)), std::system_error);
    // The waiters were withdrawn: once a's buffer is back, b reads.
    a.consume(4);
    auto m = block_on(*d, test::read_some(b));
    REQUIRE(m);
    CHECK(*m == 4u);
}

namespace {
Task<Result<std::size_t>> first_chunk(LocalDriver& d, int fd, std::shared_ptr<ProvidedBuffers> ring) {
    auto chunks = recv_stream(d, fd, std::move(ring));
    auto c = co_await chunks.next();
    if (!c) co_return std::unexpected(c.error());
    co_return c->size();
}
} // namespace

TEST_CASE("ProvidedBuffers used on a driver it is not registered with is EINVAL",
          "[regression][streams]") {
    auto d1 = test::make_driver<LocalDriver>();
    auto d2 = test::make_driver<LocalDriver>();
    auto p1 = ProvidedBuffers::create(*d1, 4, 64, 0).value();
    auto p2 = ProvidedBuffers::create(*d2, 4, 64, 0).value();
    test::SocketPair s;
    (void)!::write(s.b.get(), "hello", 5);
    auto wrong = block_on(*d2, first_chunk(*d2, s.a.get(), p1));
    REQUIRE_FALSE(wrong);
    CHECK(wrong.error() == std::errc::invalid_argument);
    auto read = block_on(*d2, test::completed(*d2, events::ReadProvided{s.a.get(), 0, p1}));
    REQUIRE_FALSE(read.result);
    CHECK(read.result.error() == std::errc::invalid_argument);
    CHECK(p1->available() == 4u); // nobody's buffers moved
    CHECK(p2->available() == 4u);
    auto right = block_on(*d2, first_chunk(*d2, s.a.get(), p2));
    REQUIRE(right);
    CHECK(*right == 5u);
}
