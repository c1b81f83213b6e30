// SPDX-License-Identifier: MIT
// Found by the outside attack on issue 13's seventh step: close() on a socket or pipe Ring left a
// write waiting on a full pipe stranded (only a file Ring marked its writes in flight). Every
// write is marked now; close() cancels it (ECANCELED), and a second concurrent write is EBUSY.
#include <catch2/catch_test_macros.hpp>
#include <fcntl.h>
#include <unistd.h>

#include <coroutine>
#include <cstddef>
#include <optional>
#include <span>
#include <system_error>
#include <utility>
#include <vector>
import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using drivers::LocalDriver;

TEST_CASE("close() cancels a write waiting on a full pipe", "[regression][ring]") {
    auto d = test::make_driver<LocalDriver>();
    auto pipe = io::pipe().value();
    (void)::fcntl(pipe.second.native_handle(), F_SETPIPE_SZ, 4096);
    Ring ring(*d, std::move(pipe.second), policies::Heap<4096>{});
    std::vector<std::byte> block(4096, std::byte{'x'});
    REQUIRE(block_on(*d, ring.write_all(block))); // the pipe is full now
    std::optional<Result<std::size_t>> got;
    auto writer = [](auto& ring, std::span<const std::byte> in, auto& got) -> test::Probe {
        got = co_await ring.write(in);
    }(ring, block, got);
    for (int i = 0; i < 3; ++i) (void)d->poll();
    REQUIRE_FALSE(got);
    auto second = block_on(*d, ring.write(block));
    CHECK((!second && second.error() == std::errc::device_or_resource_busy));
    CHECK(block_on(*d, ring.close()));
    for (int i = 0; i < 20 && !got; ++i) (void)d->run_once(false);
    REQUIRE(got);
    CHECK((!*got && got->error() == std::errc::operation_canceled));
    CHECK(d->in_flight() == 0);
}
