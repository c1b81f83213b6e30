// SPDX-License-Identifier: MIT
// Regression (found by the outside attack on issue 16): a multishot accept that hit EMFILE once
// ended for good — the kernel ends the op without F_MORE, and Stream took any such error as
// final — so a server at its fd limit never accepted again, even after fds were freed (the HTTP
// example's accept loop spun on the error). Now only errors that re-arming would repeat (EBADF,
// EINVAL, ENOTSOCK, EOPNOTSUPP, EFAULT) end a stream; others are returned and the next next()
// re-arms. Found with it: a stream refused by its driver (another thread's LocalDriver) left
// its coroutine suspended forever; it now gets the refusal (EPERM) as its error.
#include <catch2/catch_template_test_macros.hpp>
#include <catch2/catch_test_macros.hpp>
#include <sys/resource.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <thread>
#include <vector>
#include <unistd.h>

#include <utility>
#include <cerrno>
#include <coroutine>
import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using drivers::DemoDriver;
using drivers::LocalDriver;

namespace {
template <class D>
Task<void> accept_through_emfile(D& d, io::TcpListener& l, std::vector<int>& fillers,
                                 std::error_code& first, int& accepted) {
    auto incoming = l.incoming(d);
    auto at_limit = co_await incoming.next(); // every fd number taken: EMFILE
    if (!at_limit) first = at_limit.error();
    for (int fd : fillers) ::close(fd); // room again
    fillers.clear();
    for (int i = 0; i < 2; ++i) {
        auto conn = co_await incoming.next(); // re-armed: the waiting clients are accepted
        if (conn) ++accepted;
    }
}
} // namespace

TEMPLATE_TEST_CASE("a multishot accept goes on after EMFILE once fds are free again",
                   "[regression][c10k][threads]", LocalDriver, DemoDriver) {
    auto d = test::make_driver<TestType>();
    auto l = io::TcpListener::bind(io::SocketAddress::v4("127.0.0.1", 0).value()).value();
    const auto addr = l.local_address().value();
    std::vector<test::Fd> clients;
    for (int i = 0; i < 3; ++i) {
        test::Fd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        REQUIRE(::connect(c.get(), addr.data(), addr.size()) == 0);
        clients.push_back(std::move(c));
    }
    // Under ASan/UBSan, a check that meets a type for the first time probes memory through a
    // pipe — which fails while fds are exhausted, and reads as a bad object. So everything the
    // sanitizers check once is met before: the driver's threads running, error codes compared.
    REQUIRE(block_on(*d, test::completed(*d, events::Nop{})).result.has_value());
    CHECK(std::error_code(EMFILE, std::generic_category()) == std::errc::too_many_files_open);
    // Take every fd number under a lowered limit, so the next accept finds none.
    ::rlimit saved{};
    ::getrlimit(RLIMIT_NOFILE, &saved);
    ::rlimit low = saved;
    low.rlim_cur = 256;
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
    std::vector<int> fillers;
    for (int fd; (fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) fillers.push_back(fd);
    std::error_code first;
    int accepted = 0;
    block_on(*d, accept_through_emfile(*d, l, fillers, first, accepted));
    ::setrlimit(RLIMIT_NOFILE, &saved);
    CHECK(first == std::errc::too_many_files_open);
    CHECK(accepted == 2);
}

TEST_CASE("a stream refused by its driver gets the refusal, not a hang", "[regression][threads]") {
    auto d = test::make_driver<LocalDriver>();
    auto l = io::TcpListener::bind(io::SocketAddress::v4("127.0.0.1", 0).value()).value();
    std::error_code got;
    std::thread other([&] {
        block_on(*d, [](LocalDriver& d, io::TcpListener& l, std::error_code& got) -> Task<void> {
            auto incoming = l.incoming(d);
            auto conn = co_await incoming.next();
            if (!conn) got = conn.error();
        }(*d, l, got));
    });
    other.join();
    CHECK(got == std::errc::operation_not_permitted);
}
