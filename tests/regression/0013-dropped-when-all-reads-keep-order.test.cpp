// SPDX-License-Identifier: MIT
// Found by the outside attack on issue 13's seventh step: `when_all(ring.read(a), ring.read(b),
// timer)` whose caller was destroyed put the reads' bytes back last branch in front ("EFGHABCD").
// Branches are now dropped last first, so the bytes come back in the order they were read.
#include <catch2/catch_test_macros.hpp>
#include <unistd.h>

#include <chrono>
#include <coroutine>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>
import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using namespace std::chrono_literals;
using drivers::LocalDriver;

TEST_CASE("reads dropped with a when_all come back in the order they were read",
          "[regression][ring][when_all]") {
    auto d = test::make_driver<LocalDriver>();
    auto pipe = io::pipe().value();
    Ring ring(*d, std::move(pipe.first));
    REQUIRE(::write(pipe.second.native_handle(), "ABCDEFGHIJ", 10) == 10);
    REQUIRE(block_on(*d, test::fill_buf(ring))); // buffered: both reads are served at once
    auto p = [](LocalDriver& d, auto& ring) -> test::Probe {
        std::byte a[4], b[4];
        [[maybe_unused]] auto r = co_await when_all(ring.read(a), ring.read(b), submit(d, events::Timeout{1h}));
    }(*d, ring);
    (void)d->poll();
    p.reset(); // the timer never fired: the values are dropped
    std::vector<std::byte> out(10);
    REQUIRE(block_on(*d, ring.read_exact(out)));
    CHECK(test::text(out, 10) == "ABCDEFGHIJ");
    for (int i = 0; i < 10 && d->in_flight() != 0; ++i) (void)d->run_once(false);
    CHECK(d->in_flight() == 0);
}
