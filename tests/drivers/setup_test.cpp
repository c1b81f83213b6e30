// SPDX-License-Identifier: MIT
// A driver's factory reports a refused ring as an error value and the process keeps running:
// too many entries (EINVAL), io_uring refused (EPERM as under the io_uring_disabled sysctl,
// ENOSYS as in some sandboxes, ENOMEM — made real with a seccomp filter in a child process).
#include <catch2/catch_test_macros.hpp>

#include <liburing.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <vector>

import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using drivers::DemoDriver;
using drivers::LocalDriver;

namespace {

// In a child: make io_uring_setup fail with `err`, then try both drivers' factories.
// Exit 0: both reported exactly `err` as an error value.
int refused_child(int err) {
    sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (unsigned(err) & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    sock_fprog prog{static_cast<unsigned short>(std::size(filter)), filter};
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return 10;
    if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) return 11;
    auto local = LocalDriver::create();
    if (local || local.error() != std::error_code(err, std::system_category())) return 1;
    auto demo = DemoDriver::create();
    if (demo || demo.error() != std::error_code(err, std::system_category())) return 2;
    return 0;
}

int run_in_child(int (*fn)(int), int arg) {
    const pid_t pid = ::fork();
    if (pid == 0) ::_exit(fn(arg));
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
}

} // namespace

TEST_CASE("io_uring refused at setup is an error value from the factory", "[setup]") {
    CHECK(run_in_child(refused_child, EPERM) == 0);  // io_uring_disabled = 2
    CHECK(run_in_child(refused_child, ENOSYS) == 0); // a sandbox without io_uring
    CHECK(run_in_child(refused_child, ENOMEM) == 0); // memlock for the rings
}

TEST_CASE("a driver's factory reports a refused ring as an error", "[errors]") {
    // More entries than the kernel allows: io_uring_setup answers EINVAL — an error value.
    auto d = LocalDriver::create({.entries = 1u << 20});
    REQUIRE_FALSE(d.has_value());
    CHECK(d.error() == std::errc::invalid_argument);
}
