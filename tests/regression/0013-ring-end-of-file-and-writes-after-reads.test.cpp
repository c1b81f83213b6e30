// SPDX-License-Identifier: MIT
// Found by the outside attack on issue 13's sixth step:
//  * every Ring<…, Provided> read at end of file returned EINVAL, not 0 bytes: the check added
//    for a policy's empty lease (0 bytes read into 0 bytes is not end of file) also caught a
//    kernel-selected buffer, whose lease is as long as what was read — 0 at the end.
//  * on a file's Ring, write() dropped the buffered read-ahead but not bytes put back in front
//    or kept from an abandoned read: the next read returned bytes the write had overwritten
//    (and, with a put-back front, position() wrapped below zero).
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
template <class R>
Task<std::string> read_rest(R& ring) {
    std::string all;
    for (;;) {
        std::byte b[64];
        auto n = co_await ring.read(b);
        if (!n) co_return all + "<" + n.error().message() + ">";
        if (*n == 0) co_return all;
        all.append(reinterpret_cast<const char*>(b), *n);
    }
}
} // namespace

TEST_CASE("a provided-buffer Ring reads to end of file and stream", "[regression][ring]") {
    auto d = test::make_driver<LocalDriver>();
    auto bufs = ProvidedBuffers::create(*d, 4, 8).value();
    SECTION("a file") {
        test::Fd f = test::temp_file();
        REQUIRE(::pwrite(f.get(), "0123456789ABCDEF", 16, 0) == 16);
        Ring<io::File, policies::Provided> ring(*d, io::File(io::OwnedFd(::dup(f.get()))), policies::Provided{bufs});
        CHECK(block_on(*d, read_rest(ring)) == "0123456789ABCDEF");
    }
    SECTION("a stream") {
        test::SocketPair sp;
        REQUIRE(::write(sp.b.get(), "0123456789ABCDEF", 16) == 16);
        sp.b.reset();
        Ring<io::Stream, policies::Provided> ring(*d, io::Stream(io::OwnedFd(::dup(sp.a.get()))), policies::Provided{bufs});
        CHECK(block_on(*d, read_rest(ring)) == "0123456789ABCDEF");
    }
}

TEST_CASE("a file Ring's write drops every byte read ahead of it", "[regression][ring]") {
    auto d = test::make_driver<LocalDriver>();
    auto bufs = ProvidedBuffers::create(*d, 1, 8).value(); // one buffer: running low at once
    test::Fd f = test::temp_file();
    REQUIRE(::pwrite(f.get(), "0123456789ABCDEF", 16, 0) == 16);
    Ring<io::File, policies::Provided> ring(*d, io::File(io::OwnedFd(::dup(f.get()))), policies::Provided{bufs});
    const std::string rest = block_on(*d, [&]() -> Task<std::string> {
        auto data = co_await ring.fill_buf(); // "01234567"
        if (!data) co_return "fill_buf failed";
        ring.consume(2); // the rest moves in front of the Ring (the only buffer goes back)
        CHECK(ring.position() == 2u);
        auto w = co_await ring.write(std::as_bytes(std::span("XY", 2)));
        CHECK(w);
        CHECK(ring.position() == 4u);
        co_return co_await read_rest(ring);
    }());
    CHECK(rest == "456789ABCDEF");
    char back[17] = {};
    REQUIRE(::pread(f.get(), back, 16, 0) == 16);
    CHECK(std::string(back) == "01XY456789ABCDEF");
}
