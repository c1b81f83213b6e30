// SPDX-License-Identifier: MIT
// Found by the outside attack on issue 13's fifth step: Ring<File>::seek() while a read was
// suspended succeeded, and when that read completed its bytes — read at the old position — were
// served as the new position's. The same class: a second read while one is in flight (both
// leases land in one buffer slot: bytes vanish), a file write while a read or write is in
// flight (both at one offset). These are now EBUSY, and change nothing; a socket's Ring may
// still read and write at once.
#include <catch2/catch_test_macros.hpp>

#include <unistd.h>

#include <coroutine>
#include <expected>
#include <span>
#include <string>
#include <utility>
import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using drivers::LocalDriver;

namespace {
bool busy(const std::error_code& e) { return e == std::errc::device_or_resource_busy; }

template <class R>
test::Probe reader(R& ring, std::string& got) {
    auto data = co_await ring.fill_buf();
    if (data) {
        got = test::text(*data);
        ring.consume(data->size());
    } else {
        got = "error";
    }
}
} // namespace

TEST_CASE("a file's Ring refuses seek, reads and writes while a read is in flight", "[regression][ring]") {
    auto d = test::make_driver<LocalDriver>();
    test::Pipe p; // a pipe adopted as a File: its read waits for data, as a slow file's would
    Ring ring(*d, io::File(io::OwnedFd(::dup(p.read.get()))));
    std::string got;
    test::Probe a = reader(ring, got);
    REQUIRE(d->poll().has_value()); // the read is in the kernel

    auto s = ring.seek(100);
    REQUIRE_FALSE(s);
    CHECK(busy(s.error()));
    CHECK(ring.position() == 0u);

    std::string second;
    test::Probe b = reader(ring, second);
    CHECK(second == "error"); // EBUSY at once, no second op
    auto wr = block_on(*d, ring.write(test::bytes("x")));
    REQUIRE_FALSE(wr);
    CHECK(busy(wr.error()));

    REQUIRE(::write(p.write.get(), "abc", 3) == 3);
    while (got.empty()) REQUIRE(d->poll().has_value());
    CHECK(got == "abc");
    CHECK(ring.position() == 3u);
    REQUIRE(ring.seek(100)); // nothing in flight: allowed again
    CHECK(ring.position() == 100u);
}

TEST_CASE("an abandoned read leaves the Ring free to seek", "[regression][ring]") {
    auto d = test::make_driver<LocalDriver>();
    test::Pipe p;
    Ring ring(*d, io::File(io::OwnedFd(::dup(p.read.get()))));
    std::string got;
    {
        test::Probe a = reader(ring, got);
        REQUIRE(d->poll().has_value());
    } // destroyed mid-read: cancelled, and no longer the Ring's read
    REQUIRE(ring.seek(0));
}

TEST_CASE("a socket's Ring refuses a second read but writes while it reads", "[regression][ring]") {
    auto d = test::make_driver<LocalDriver>();
    test::SocketPair sp;
    Ring ring(*d, io::Stream(io::OwnedFd(::dup(sp.a.get()))));
    std::string got, second;
    test::Probe a = reader(ring, got);
    REQUIRE(d->poll().has_value());
    test::Probe b = reader(ring, second);
    CHECK(second == "error");
    auto wr = block_on(*d, ring.write(test::bytes("ping")));
    REQUIRE(wr);
    CHECK(*wr == 4u);
    REQUIRE(::write(sp.b.get(), "pong", 4) == 4);
    while (got.empty()) REQUIRE(d->poll().has_value());
    CHECK(got == "pong");
}
