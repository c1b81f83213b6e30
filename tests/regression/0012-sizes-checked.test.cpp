// SPDX-License-Identifier: MIT
// Regression (issue 12, item 8): sizes a caller chooses were not checked. Sendmsg copied an
// address longer than sockaddr_storage past its heap copy; Read/Write/Recv/Send cast lengths to
// 32 bits, so a read into a 4 GiB buffer reported 0 bytes (a false end of file) with data
// pending; BufferPool::create(4, 2^62 + 1) wrapped count × size, mapped 4 bytes and leased past
// them. Every size is now checked (overflow → EINVAL / EOVERFLOW) and lengths beyond one op are
// clamped so the count stays truthful. Found by the same audit: a path with a NUL inside was cut
// there (the op acted on another file); it is now refused.
#include <catch2/catch_test_macros.hpp>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <fcntl.h>
#include <cstring>
#include <string_view>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>
#include <utility>
#include <cerrno>
#include <coroutine>
import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using drivers::LocalDriver;

TEST_CASE("an address longer than sockaddr_storage fails the op with EINVAL, never copied past "
          "the event's copy",
          "[regression][sizes]") {
    auto d = test::make_driver<LocalDriver>();
    test::SocketPair s;
    std::vector<std::byte> huge(4096, std::byte{'a'});
    auto* to = reinterpret_cast<const ::sockaddr*>(huge.data());
    std::vector<std::vector<std::byte>> bufs;
    bufs.push_back(test::bytes("x"));
    CHECK(block_on(*d, test::result_of(*d, events::Sendmsg<>(s.a.get(), std::move(bufs), to, 4096))).error() ==
          std::errc::invalid_argument);
    CHECK(block_on(*d, test::result_of(*d, events::Connect(s.a.get(), to, 4096))).error() ==
          std::errc::invalid_argument);
    CHECK(block_on(*d, test::result_of(*d, events::Bind(s.a.get(), to, 4096))).error() ==
          std::errc::invalid_argument);
}

TEST_CASE("a read into a buffer of 4 GiB or more reports the bytes it read, not end of file",
          "[regression][sizes]") {
    auto d = test::make_driver<LocalDriver>();
    test::Pipe p;
    REQUIRE(::write(p.write.get(), "abcde", 5) == 5);
    const std::size_t len = std::size_t{1} << 32; // untouched pages cost nothing
    void* m = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    REQUIRE(m != MAP_FAILED);
    std::span<std::byte> big(static_cast<std::byte*>(m), len);
    CHECK(block_on(*d, test::result_of(*d, events::Read<UnsafeBorrow>{p.read.get(), unsafe_borrow(big)})) == 5u);
    CHECK(big[4] == std::byte{'e'});
    REQUIRE(::write(p.write.get(), "fgh", 3) == 3);
    CHECK(block_on(*d, test::result_of(*d, events::Read<UnsafeBorrow>{p.read.get(), unsafe_borrow(big), current_offset,
                                                          len + 7})) == 3u);
    ::munmap(m, len);
}

TEST_CASE("a pool whose count × size overflows is refused with EOVERFLOW", "[regression][sizes]") {
    CHECK(BufferPool::create(4, (std::size_t{1} << 62) + 1, WhenEmpty::fail).error() ==
          std::errc::value_too_large);
    CHECK(BufferPool::create(2, ~std::size_t{0}, WhenEmpty::fail).error() ==
          std::errc::value_too_large);
    CHECK(BufferPool::create(0, 64, WhenEmpty::fail).error() == std::errc::invalid_argument);
}

TEST_CASE("a path with a NUL inside is refused, never cut short", "[regression][sizes]") {
    auto d = test::make_driver<LocalDriver>();
    using namespace std::string_view_literals;
    const auto path = "/dev/null\0/etc/passwd"sv; // cut, it would open /dev/null
    auto r = block_on(*d, test::completed(*d, events::Openat(AT_FDCWD, path, O_RDONLY)));
    REQUIRE_FALSE(r);
    CHECK(r.error() == std::errc::filename_too_long);
}
