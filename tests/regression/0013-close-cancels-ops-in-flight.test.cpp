// SPDX-License-Identifier: MIT
// Found by the outside attack on issue 13's sixth step: Ring::close() from one coroutine while
// another's read waited on the Ring succeeded, released the fd — and left the read waiting
// forever (the op held the file open). Now close() cancels every op on the fd first
// (ASYNC_CANCEL by fd): the read ends with ECANCELED, and nothing stays in flight or open.
#include <catch2/catch_test_macros.hpp>
#include <unistd.h>

#include <coroutine>
#include <cstddef>
#include <memory>
#include <optional>
#include <system_error>
#include <utility>
import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using drivers::LocalDriver;

namespace {
template <class R>
test::Probe read_one(R& ring, std::optional<Result<std::size_t>>& got) {
    std::byte b[8];
    got = co_await ring.read(b);
}
void turns(LocalDriver& d, int n) {
    for (int i = 0; i < n; ++i) (void)d.poll();
}
template <class R>
void close_while_reading(LocalDriver& d, R& ring) {
    std::optional<Result<std::size_t>> got;
    auto reader = read_one(ring, got);
    turns(d, 2);
    REQUIRE_FALSE(got); // waiting: the pipe's write end is open and silent
    CHECK(block_on(d, ring.close()));
    for (int i = 0; i < 20 && !got; ++i) (void)d.run_once(false);
    REQUIRE(got);
    CHECK((!*got && got->error() == std::errc::operation_canceled));
    CHECK(d.in_flight() == 0);
    CHECK(block_on(d, ring.close())); // closing again does nothing
}
} // namespace

TEST_CASE("close() cancels a read waiting on the Ring", "[regression][ring]") {
    auto d = test::make_driver<LocalDriver>();
    const int fds = test::fd_count();
    {
        auto pipe = io::pipe().value();
        SECTION("heap buffers") {
            Ring ring(*d, std::move(pipe.first));
            close_while_reading(*d, ring);
        }
        SECTION("kernel-selected buffers") {
            auto bufs = ProvidedBuffers::create(*d, 2, 64).value();
            Ring<io::Stream, policies::Provided> ring(*d, std::move(pipe.first), policies::Provided{bufs});
            close_while_reading(*d, ring);
            CHECK(bufs->available() == 2);
        }
    }
    CHECK(test::fd_count() == fds);
}
