// SPDX-License-Identifier: MIT
// Setup failures are clear errors and the process keeps running: io_uring refused (EPERM as
// under the io_uring_disabled sysctl, ENOSYS as in some sandboxes — made real here with a
// seccomp filter in a child process), and the fd limit reached on accept (EMFILE).
#include <catch2/catch_test_macros.hpp>

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstddef>
#include <vector>

#include "support.hpp"

import ringbahn;

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

Task<Result<io::TcpStream>> accept_one(LocalDriver& d, io::TcpListener& l) { co_return co_await l.accept(d); }

} // namespace

TEST_CASE("io_uring refused at setup is an error value from the factory", "[setup]") {
    CHECK(run_in_child(refused_child, EPERM) == 0);  // io_uring_disabled = 2
    CHECK(run_in_child(refused_child, ENOSYS) == 0); // a sandbox without io_uring
    CHECK(run_in_child(refused_child, ENOMEM) == 0); // memlock for the rings
}

TEST_CASE("accept at the fd limit gives EMFILE, and works again once fds are free",
          "[setup][fd]") {
    auto d = LocalDriver::create().value();
    auto l = io::TcpListener::bind(*io::SocketAddress::parse("127.0.0.1:0")).value();
    const auto at = l.local_address().value();
    test::Fd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    REQUIRE(::connect(client.get(), at.data(), at.size()) == 0);

    rlimit saved{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
    // fds are handed out lowest-first: a limit at the lowest free number makes the next fd —
    // the accepted one — impossible, without filling the table. The window is kept to the
    // accept alone (sanitizer runtimes open files of their own).
    const int lowest_free = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    REQUIRE(lowest_free >= 0);
    ::close(lowest_free);
    rlimit low = saved;
    low.rlim_cur = rlim_t(lowest_free);
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
    auto refused = block_on(*d, accept_one(*d, l));
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &saved) == 0);
    REQUIRE_FALSE(refused.has_value());
    CHECK(refused.error() == std::errc::too_many_files_open);

    auto accepted = block_on(*d, accept_one(*d, l)); // the connection waited in the backlog
    CHECK(accepted.has_value());
}
