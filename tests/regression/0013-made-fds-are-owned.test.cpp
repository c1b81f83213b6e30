// SPDX-License-Identifier: MIT
// Regression (issue 13, section 1): accept, openat, openat2 and socket gave their new fd as a
// bare Result<std::uint32_t>, so a result nobody looked at — dropped, or a when_any loser's —
// leaked the fd. Their output is now Result<io::OwnedFd>: dropped, it closes. A link, whose
// results are bare values, refuses them at compile time; with_timeout keeps the owned output.
// Also the one rule for time running out: a Timeout that fires succeeds (Timeout::expired);
// an op bounded by with_timeout that runs out fails with timed_out.
#include <catch2/catch_template_test_macros.hpp>
#include <catch2/catch_test_macros.hpp>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/socket.h>
#include <chrono>
#include <type_traits>
#include <vector>
#include <utility>
#include <coroutine>
#include <tuple>
import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using namespace std::chrono_literals;
using drivers::DemoDriver;
using drivers::LocalDriver;

namespace {
template <class E>
concept Linkable = requires(E e) { events::link(std::move(e)); };
template <class E>
concept Timeboxable = requires(E e) { events::with_timeout(std::move(e), 1ms); };

// Each fd-making op, its output dropped unread.
template <class D>
Task<void> drop_outputs(D& d, int listen_fd) {
    (void)co_await submit(d, events::Openat{AT_FDCWD, "/dev/null", O_RDONLY});
    (void)co_await d.submit(events::Openat2{AT_FDCWD, "/dev/null", O_RDONLY, 0});
    (void)co_await submit(d, events::Socket{AF_INET, SOCK_STREAM});
    (void)co_await d.submit(events::Accept{listen_fd});
}

Task<int> accept_loses_to_nop(LocalDriver& d, int listen_fd) {
    auto r = co_await when_any(submit(d, events::Nop{}), submit(d, events::Accept{listen_fd}));
    co_return r.get<1>() ? 1 : 0; // the AnyOf, and with it the accepted fd, goes here
}

Task<void> timer_rule(LocalDriver& d, int listen_fd) {
    auto [t, fired] = co_await d.submit(events::Timeout{1ms});
    CHECK(fired == events::Timeout::expired);
    auto nobody = co_await d.submit(events::with_timeout(events::Accept{listen_fd}, 1ms));
    static_assert(std::is_same_v<decltype(nobody), Result<io::OwnedFd>>);
    CHECK(nobody.error() == std::errc::timed_out);
}
} // namespace

TEST_CASE("fd-making ops give an owned fd; the link that would lose it is refused",
          "[regression][fd]") {
    STATIC_REQUIRE(std::is_same_v<OutputOf<events::Accept>, Result<io::OwnedFd>>);
    STATIC_REQUIRE(std::is_same_v<OutputOf<events::Openat>, Result<io::OwnedFd>>);
    STATIC_REQUIRE(std::is_same_v<OutputOf<events::Openat2>, Result<io::OwnedFd>>);
    STATIC_REQUIRE(std::is_same_v<OutputOf<events::Socket>, Result<io::OwnedFd>>);
    STATIC_REQUIRE(std::is_same_v<OutputOf<events::Fixed<events::Accept>>, Result<io::OwnedFd>>);
    STATIC_REQUIRE(std::is_same_v<OutputOf<events::WithTimeout<events::Openat>>, Result<io::OwnedFd>>);
    STATIC_REQUIRE(std::is_same_v<OutputOf<events::Nop>, Returned<events::Nop>>);
    STATIC_REQUIRE_FALSE(Linkable<events::Accept>);
    STATIC_REQUIRE_FALSE(Linkable<events::Openat>);
    STATIC_REQUIRE(Linkable<events::Nop>);
    STATIC_REQUIRE(Timeboxable<events::Accept>);
}

TEMPLATE_TEST_CASE("a dropped fd output closes its fd", "[regression][fd]", LocalDriver, DemoDriver) {
    auto d = test::make_driver<TestType>();
    test::Listener l;
    test::Fd client = l.connect_client(); // the accept completes at once
    const int before = test::fd_count();
    for (int round = 0; round < 20; ++round) {
        test::Fd c = round == 0 ? std::move(client) : l.connect_client();
        const int with_client = test::fd_count();
        block_on(*d, drop_outputs(*d, l.fd.get()));
        CHECK(test::fd_count() == with_client); // four fds made, four closed
    }
    CHECK(test::fd_count() == before - 1);
}

TEST_CASE("a when_any loser's accepted fd closes with the result", "[regression][fd]") {
    auto d = test::make_driver<LocalDriver>();
    test::Listener l;
    std::vector<test::Fd> clients;
    for (int i = 0; i < 8; ++i) clients.push_back(l.connect_client());
    const int before = test::fd_count();
    int accepted = 0;
    for (int i = 0; i < 8; ++i) accepted += block_on(*d, accept_loses_to_nop(*d, l.fd.get()));
    CHECK(accepted == 8); // the accept completed each time (the backlog had a connection)...
    CHECK(test::fd_count() == before); // ...and its fd was closed with the when_any's value
}

TEST_CASE("time running out: a Timeout succeeds, an op bounded by with_timeout fails timed_out",
          "[regression][timeout]") {
    auto d = test::make_driver<LocalDriver>();
    test::Listener l;
    const int before = test::fd_count();
    block_on(*d, timer_rule(*d, l.fd.get()));
    CHECK(test::fd_count() == before);
}
