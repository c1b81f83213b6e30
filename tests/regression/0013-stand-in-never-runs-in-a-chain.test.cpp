// SPDX-License-Identifier: MIT
// Found by the outside attack on issue 13's sixth step: on a kernel without FTRUNCATE (before
// 6.9; BIND and LISTEN before 6.11) the driver runs the syscall in the op's place — also inside
// a link, where it ran at once, before the SQEs it must follow and even when the chain was
// cancelled: the file was truncated while the result said ECANCELED. In a chain (a link or a
// with_timeout) a missing op is now operation_not_supported, and nothing runs.
#include <catch2/catch_test_macros.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <coroutine>
#include <expected>
#include <utility>
import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using namespace std::chrono_literals;
using drivers::LocalDriver;

namespace {
constexpr std::uint8_t op_ftruncate = 55; // IORING_OP_FTRUNCATE, 6.9
long size_of(int fd) {
    struct stat st{};
    return ::fstat(fd, &st) == 0 ? long(st.st_size) : -1;
}
} // namespace

TEST_CASE("a hidden op's syscall stand-in does not run inside a chain", "[regression]") {
    auto d = LocalDriver::create({.entries = 64, .hide_opcodes = {op_ftruncate}}).value();
    test::Fd f = test::temp_file();
    REQUIRE(::pwrite(f.get(), "12345678", 8, 0) == 8);
    auto linked = block_on(*d, test::result_of(*d, events::with_timeout(events::Ftruncate{f.get(), 0}, 1s)));
    REQUIRE_FALSE(linked);
    CHECK(linked.error() == std::errc::operation_not_supported);
    CHECK(size_of(f.get()) == 8);
    auto chain = block_on(*d, test::result_of(*d, events::link(events::Nop{}, events::Ftruncate{f.get(), 0})));
    REQUIRE_FALSE(chain);
    CHECK(size_of(f.get()) == 8);
    // Alone, it still runs as the syscall.
    auto alone = block_on(*d, test::result_of(*d, events::Ftruncate{f.get(), 2}));
    CHECK(alone);
    CHECK(size_of(f.get()) == 2);
}
