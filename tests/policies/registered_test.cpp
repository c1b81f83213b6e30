// SPDX-License-Identifier: MIT
// policies::Registered: buffer registration failures are errors at construction.
#include <catch2/catch_template_test_macros.hpp>
#include <catch2/catch_test_macros.hpp>

#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <optional>
#include <random>
#include <vector>

import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using drivers::LocalDriver;

TEST_CASE("buffer registration failures are errors at construction", "[ring][registered]") {
    auto d = test::make_driver<LocalDriver>();
    SECTION("more buffers than the kernel registers") {
        auto r = policies::Registered::create(*d, 20000, 4096, WhenEmpty::wait);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error() == std::errc::invalid_argument);
    }
    SECTION("a ring that already has registered buffers") {
        auto first = policies::Registered::create(*d, 2, 4096, WhenEmpty::wait);
        REQUIRE(first.has_value());
        auto second = policies::Registered::create(*d, 2, 4096, WhenEmpty::wait);
        REQUIRE_FALSE(second.has_value());
        CHECK(second.error() == std::errc::device_or_resource_busy);
    }
    SECTION("RLIMIT_MEMLOCK too low, without CAP_IPC_LOCK") {
        // In a child: drop CAP_IPC_LOCK (root bypasses the limit with it), lower the limit,
        // and register more than it allows. The child reports what it got.
        const pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
            __user_cap_data_struct data[2]{};
            if (::syscall(SYS_capget, &hdr, data) != 0) ::_exit(10);
            data[CAP_IPC_LOCK / 32].effective &= ~(1u << (CAP_IPC_LOCK % 32));
            data[CAP_IPC_LOCK / 32].permitted &= ~(1u << (CAP_IPC_LOCK % 32));
            if (::syscall(SYS_capset, &hdr, data) != 0) ::_exit(11);
            rlimit lim{64 * 1024, 64 * 1024};
            if (::setrlimit(RLIMIT_MEMLOCK, &lim) != 0) ::_exit(12);
            auto child = LocalDriver::create({.entries = 8});
            if (!child) ::_exit(13);
            auto r = policies::Registered::create(**child, 64, 64 * 1024, WhenEmpty::wait);
            ::_exit(r ? 0 : (r.error() == std::errc::not_enough_memory ? 1 : 14));
        }
        int status = 0;
        REQUIRE(::waitpid(pid, &status, 0) == pid);
        REQUIRE(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) == 1); // ENOMEM, reported as an error; the process went on
    }
}
