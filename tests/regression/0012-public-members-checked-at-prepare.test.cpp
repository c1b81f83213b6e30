// SPDX-License-Identifier: MIT
// Regression (issue 12, found by an outside program after the first fixes): events keep their
// buffers in public members, but Readv / Writev / Sendmsg / Recvmsg built their iovec arrays at
// construction — a buffer replaced afterwards left the kernel the old (freed) address, and one
// added was silently ignored. A LocalDriver used from another thread aborted. Now the iovecs
// are re-read at prepare (a changed count fails with EINVAL), a dropped Accept peer is asked for
// no address, and a LocalDriver refuses another thread's ops with EPERM.
#include <catch2/catch_test_macros.hpp>
#include <thread>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <vector>
#include <utility>
#include <cerrno>
import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using drivers::LocalDriver;

TEST_CASE("a Readv whose buffer was replaced after construction reads into the new one",
          "[regression][readv]") {
    auto d = test::make_driver<LocalDriver>();
    test::Pipe p;
    std::vector<std::vector<std::byte>> bufs;
    bufs.emplace_back(64);
    events::Readv<> rv{p.read.get(), std::move(bufs)};
    rv.bufs[0] = std::vector<std::byte>(32); // the old buffer is freed here
    REQUIRE(::write(p.write.get(), "HELLO", 5) == 5);
    auto done = block_on(*d, test::completed(*d, std::move(rv)));
    REQUIRE(done.result == 5u);
    CHECK(test::text(done.event.bufs[0], 5) == "HELLO");
}

TEST_CASE("a vectored op whose buffer count changed after construction fails with EINVAL",
          "[regression][readv]") {
    auto d = test::make_driver<LocalDriver>();
    test::Pipe p;
    std::vector<std::vector<std::byte>> bufs;
    bufs.emplace_back(8);
    events::Readv<> rv{p.read.get(), std::move(bufs)};
    rv.bufs.emplace_back(8);
    CHECK(block_on(*d, test::completed(*d, std::move(rv))).result.error() == std::errc::invalid_argument);
    std::vector<std::vector<std::byte>> parts;
    parts.push_back(test::bytes("x"));
    events::Sendmsg<> sm(p.write.get(), std::move(parts));
    sm.bufs.clear();
    CHECK(block_on(*d, test::completed(*d, std::move(sm))).result.error() == std::errc::invalid_argument);
}

TEST_CASE("a LocalDriver refuses another thread's ops with EPERM, never aborts",
          "[regression][local]") {
    auto d = test::make_driver<LocalDriver>();
    Result<std::uint32_t> r = 0u;
    std::jthread([&] { r = block_on(*d, test::completed(*d, events::Nop{})).result; }).join();
    CHECK(r.error() == std::errc::operation_not_permitted);
    CHECK(block_on(*d, test::completed(*d, events::Nop{})).result == 0u); // its own thread is served
}
