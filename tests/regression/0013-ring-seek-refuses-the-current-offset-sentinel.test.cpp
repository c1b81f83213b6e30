// SPDX-License-Identifier: MIT
// Found by the outside attack on issue 13's fourth step: Ring<File>::seek(~0) was taken as a
// position, and ~0 is io_uring's current_offset ("use the fd's own position"): the next write
// landed at the start of the file and reported success. Offsets past INT64_MAX (which no file
// has) are now EINVAL from seek, and the position stays where it was.
#include <catch2/catch_test_macros.hpp>
#include <cstdint>
#include <string>
#include <unistd.h>

#include <cerrno>
#include <cstring>
import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using drivers::LocalDriver;

TEST_CASE("seek past INT64_MAX is EINVAL and moves nothing", "[regression][ring]") {
    auto d = test::make_driver<LocalDriver>();
    test::Fd f = test::temp_file();
    REQUIRE(::pwrite(f.get(), "ABCDEFGH", 8, 0) == 8);
    Ring ring(*d, io::File(io::OwnedFd(::dup(f.get()))));
    REQUIRE(ring.seek(4));
    for (std::uint64_t bad : {~std::uint64_t{0}, std::uint64_t{1} << 63, current_offset - 1}) {
        auto r = ring.seek(bad);
        REQUIRE_FALSE(r);
        CHECK(r.error() == std::errc::invalid_argument);
        CHECK(ring.position() == 4u);
    }
    REQUIRE(block_on(*d, ring.write_all(test::bytes("zz"))));
    char back[9] = {};
    REQUIRE(::pread(f.get(), back, 8, 0) == 8);
    CHECK(std::string(back) == "ABCDzzGH"); // written where the Ring was, not at the fd's 0
    REQUIRE(ring.seek(std::uint64_t{INT64_MAX}));
}
