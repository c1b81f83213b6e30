// SPDX-License-Identifier: MIT
// Regression (found by the second outside attack on issue 16): ProvidedBuffers::lease(id, bytes) and
// reclaim(id) were public, so any caller could take a buffer the kernel still owned (and the
// kernel then filled a buffer the user held; dropped twice, the id went into the ring twice and
// three live leases shared one buffer). They now need a CqeBufferKey, which only the events
// reading IORING_CQE_F_BUFFER can make. Found with it: a null ProvidedBuffers or BufferPool in an
// event or policy crashed (null member call); it is now EINVAL.
#include <catch2/catch_test_macros.hpp>
#include <type_traits>
#include <vector>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <utility>
#include <cerrno>
#include <coroutine>
import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using drivers::LocalDriver;

template <class R>
concept LeasesById = requires(R& r) { r.lease(0u, std::size_t{64}); } ||
                     requires(R& r) { r.lease({}, 0u, std::size_t{64}); };
template <class R>
concept ReclaimsById = requires(R& r) { r.reclaim(0u); } || requires(R& r) { r.reclaim({}, 0u); };
static_assert(!LeasesById<ProvidedBuffers>, "a buffer id is not a lease: only a CQE's F_BUFFER makes one");
static_assert(!ReclaimsById<ProvidedBuffers>);
static_assert(!std::is_default_constructible_v<CqeBufferKey>);
static_assert(!std::is_copy_constructible_v<CqeBufferKey>);

namespace {
Task<Result<std::uint32_t>> read_null_ring(LocalDriver& d, int fd) {
    auto [e, r] = co_await submit(d, events::ReadProvided{fd, current_offset, nullptr});
    co_return r;
}
Task<std::error_code> stream_null_ring(LocalDriver& d, int fd) {
    auto s = recv_stream(d, fd, nullptr);
    auto c = co_await s.next();
    co_return c ? std::error_code{} : c.error();
}
template <class Policy>
Task<std::error_code> ring_read(LocalDriver& d, int fd, Policy p) {
    Ring<io::Stream, Policy> ring(d, io::Stream(io::OwnedFd(fd)), std::move(p));
    std::vector<std::byte> out(8);
    auto n = co_await ring.read(out);
    co_return n ? std::error_code{} : n.error();
}
} // namespace

TEST_CASE("a null ProvidedBuffers or BufferPool is EINVAL, never a crash", "[regression][errors]") {
    auto d = test::make_driver<LocalDriver>();
    test::SocketPair s;
    REQUIRE(::write(s.b.get(), "data", 4) == 4);
    CHECK(block_on(*d, read_null_ring(*d, s.a.get())).error() == std::errc::invalid_argument);
    CHECK(block_on(*d, stream_null_ring(*d, s.a.get())) == std::errc::invalid_argument);
    test::Pipe p1, p2;
    REQUIRE(::write(p1.write.get(), "x", 1) == 1);
    REQUIRE(::write(p2.write.get(), "x", 1) == 1);
    CHECK(block_on(*d, ring_read(*d, std::exchange(p1.read.fd, -1), policies::Provided{nullptr})) ==
          std::errc::invalid_argument);
    CHECK(block_on(*d, ring_read(*d, std::exchange(p2.read.fd, -1), policies::Pooled{nullptr})) ==
          std::errc::invalid_argument);
}
