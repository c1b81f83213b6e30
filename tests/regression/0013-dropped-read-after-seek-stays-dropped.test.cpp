// SPDX-License-Identifier: MIT
// Found by the outside attack on issue 13's seventh step: a file Ring read that won a when_any
// whose caller was destroyed only after the Ring had seeked (or written) put its bytes back in
// front of the new position's: the next read returned "0123" + "89AB..." after seek(8). Bytes
// from before a seek, a write or a close now stay dropped.
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

namespace {
struct Never {
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<>) const noexcept {}
    void await_resume() const noexcept {}
};
template <class R>
test::Probe race(R& ring) {
    std::byte buf[4];
    [[maybe_unused]] auto r = co_await when_any(ring.read(buf), Never{});
}
template <class R>
std::string rest(LocalDriver& d, R& ring) {
    std::string all;
    for (;;) {
        std::byte b[16];
        auto n = block_on(d, ring.read(b));
        REQUIRE(n);
        if (*n == 0) return all;
        all.append(reinterpret_cast<const char*>(b), *n);
    }
}
} // namespace

TEST_CASE("a dropped read's bytes do not come back after a seek or a write",
          "[regression][ring][when_any]") {
    auto d = test::make_driver<LocalDriver>();
    test::Fd f = test::temp_file();
    REQUIRE(::pwrite(f.get(), "0123456789ABCDEF", 16, 0) == 16);
    Ring ring(*d, io::File(io::OwnedFd(::dup(f.get()))));
    auto p = race(ring);
    (void)d->poll(); // the read won "0123"; the other branch never settles
    SECTION("seek") {
        REQUIRE(ring.seek(8));
        p.reset();
        CHECK(ring.position() == 8u);
        CHECK(rest(*d, ring) == "89ABCDEF");
    }
    SECTION("write") {
        REQUIRE(block_on(*d, ring.write(test::bytes("XY"))));
        p.reset();
        CHECK(rest(*d, ring) == "6789ABCDEF");
    }
}
