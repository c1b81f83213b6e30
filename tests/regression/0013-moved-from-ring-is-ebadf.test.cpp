// SPDX-License-Identifier: MIT
// Found by the outside attack on issue 13's sixth step: every call on a moved-from Ring (fill_buf,
// read, read_exact, consume, close, a file Ring's write / seek / position) dereferenced the
// null rescue the move left behind — a crash. Now a moved-from Ring holds nothing and every call
// on it is EBADF (consume does nothing); the Ring it moved into works on.
#include <catch2/catch_test_macros.hpp>
#include <unistd.h>

#include <coroutine>
#include <cstddef>
#include <memory>
#include <span>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>
import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using drivers::LocalDriver;

namespace {
bool is_ebadf(const auto& r) { return !r && r.error() == std::errc::bad_file_descriptor; }
} // namespace

TEST_CASE("every call on a moved-from stream Ring is EBADF", "[regression][ring]") {
    auto d = test::make_driver<LocalDriver>();
    auto pipe = io::pipe().value();
    REQUIRE(::write(pipe.second.native_handle(), "hello", 5) == 5);
    Ring a(*d, std::move(pipe.first));
    Ring b(std::move(a));

    CHECK(is_ebadf(block_on(*d, test::fill_buf(a))));
    std::byte buf[8];
    CHECK(is_ebadf(block_on(*d, a.read(buf))));
    CHECK(is_ebadf(block_on(*d, a.read_exact(buf))));
    std::vector<std::byte> line;
    CHECK(is_ebadf(block_on(*d, a.read_until(std::byte{'\n'}, line))));
    CHECK(is_ebadf(block_on(*d, a.write(test::bytes("x")))));
    a.consume(3); // nothing to consume: no effect
    CHECK_FALSE(a.holds_read_buffer());
    CHECK(is_ebadf(block_on(*d, a.close())));

    auto n = block_on(*d, b.read(buf)); // the moved-to Ring has the pipe
    REQUIRE(n);
    CHECK(test::text(std::vector<std::byte>(buf, buf + *n), *n) == "hello");
    CHECK(d->in_flight() == 0);
}

TEST_CASE("a moved-from file Ring's seek, position and write are EBADF, and assigning over it "
          "revives it",
          "[regression][ring]") {
    auto d = test::make_driver<LocalDriver>();
    test::Fd f = test::temp_file();
    REQUIRE(::pwrite(f.get(), "0123456789", 10, 0) == 10);
    Ring a(*d, io::File(io::OwnedFd(::dup(f.get()))), policies::Heap<4>{});
    auto data = block_on(*d, test::fill_buf(a));
    REQUIRE((data && data->size() == 4));
    auto b = std::move(a);
    CHECK(is_ebadf(a.seek(2)));
    CHECK(a.position() == 0);
    CHECK(is_ebadf(block_on(*d, a.write(test::bytes("x")))));
    CHECK(is_ebadf(block_on(*d, test::fill_buf(a))));
    CHECK(b.position() == 0);
    b.consume(4);
    CHECK(b.position() == 4);

    a = std::move(b); // assigned a live Ring again: it works
    std::byte out[6];
    REQUIRE(block_on(*d, a.read_exact(out)));
    CHECK(test::text(std::vector<std::byte>(out, out + 6), 6) == "456789");
    CHECK(is_ebadf(b.seek(0)));
}
