// SPDX-License-Identifier: MIT
// TcpListener::accept at the fd limit gives EMFILE, and works again once fds are free.
#include <catch2/catch_test_macros.hpp>

#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <coroutine>
#include <cstddef>
#include <vector>

import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using drivers::LocalDriver;

namespace {

Task<Result<io::TcpStream>> accept_one(LocalDriver& d, io::TcpListener& l) { co_return co_await l.accept(d); }

} // namespace

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
