// SPDX-License-Identifier: MIT
// Regression (issue 12, item 2): OwnedBuffer admitted std::span<std::byte> (someone else's
// bytes) and std::array<std::byte, N> (bytes inside the event object, which moves into the
// Completion on cancellation while the kernel keeps the old address). Both are now rejected at
// compile time; lending other memory takes the visibly unsafe unsafe_borrow().
#include <catch2/catch_test_macros.hpp>
#include <array>
#include <span>
#include <string>
#include <string_view>
#include <memory_resource>
#include <vector>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <coroutine>
import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;

namespace {
template <class B>
concept ReadableInto = requires { typename events::Read<B>; };
template <class B>
concept RecvableInto = requires { typename events::Recv<B>; };
} // namespace

TEST_CASE("borrowed and inline storage is not an OwnedBuffer; owning heap storage is",
          "[regression][buffer]") {
    STATIC_REQUIRE_FALSE(OwnedBuffer<std::span<std::byte>>);
    STATIC_REQUIRE_FALSE(OwnedBuffer<std::span<char>>);
    STATIC_REQUIRE_FALSE(OwnedBuffer<std::array<std::byte, 64>>);
    STATIC_REQUIRE_FALSE(OwnedBuffer<std::string>);
    STATIC_REQUIRE_FALSE(OwnedBuffer<std::string_view>);
    // A pmr vector's bytes may live in a caller's arena (on a coroutine frame gone before the
    // CQE): found by an outside program after the first fix; only std::allocator is owning.
    STATIC_REQUIRE_FALSE(OwnedBuffer<std::pmr::vector<std::byte>>);
    STATIC_REQUIRE_FALSE(ReadableInto<std::span<std::byte>>);
    STATIC_REQUIRE_FALSE(RecvableInto<std::array<std::byte, 16>>);

    STATIC_REQUIRE(OwnedBuffer<std::vector<std::byte>>);
    STATIC_REQUIRE(OwnedBuffer<std::vector<unsigned char>>);
    STATIC_REQUIRE(OwnedBuffer<PoolLease>);
    STATIC_REQUIRE(OwnedBuffer<ProvidedLease>);
    STATIC_REQUIRE(OwnedBuffer<policies::HeapBuffer<64>>);
    STATIC_REQUIRE(OwnedBuffer<UnsafeBorrow>); // the caller's promise, spelled out
}

namespace {
std::array<std::byte, 16> arena{}; // outlives every driver: what unsafe_borrow asks for

Task<Result<std::uint32_t>> read_into_arena(drivers::LocalDriver& d, int fd) {
    auto [read, n] = co_await submit(d, events::Read<UnsafeBorrow>{fd, unsafe_borrow(arena)});
    co_return n;
}
} // namespace

TEST_CASE("unsafe_borrow lends memory the caller keeps alive", "[regression][buffer]") {
    auto d = test::make_driver<drivers::LocalDriver>();
    test::Pipe p;
    REQUIRE(::write(p.write.get(), "abc", 3) == 3);
    REQUIRE(block_on(*d, read_into_arena(*d, p.read.get())) == 3u);
    CHECK(arena[0] == std::byte{'a'});
    CHECK(arena[2] == std::byte{'c'});
}
