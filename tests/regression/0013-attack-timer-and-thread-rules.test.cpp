// SPDX-License-Identifier: MIT
// Regression (issue 13, outside attack), one behaviour per test case:
//  * a Timeout that fires is a success, also inside a link: link(Timeout, Nop) ran the Nop
//    (IORING_TIMEOUT_ETIME_SUCCESS where the kernel has it, 5.16+);
//  * with_timeout(Timeout) that ran out never ran the timer's finish: its OpHandle kept naming
//    a finished op;
//  * an op is awaited once: `co_await op` on an lvalue does not compile (a second await
//    submitted a moved-from event, or resumed finished when_any branches);
//  * a LocalDriver whose creating thread exited was taken for its own by a new thread reusing
//    the thread_local's address: the kernel refused the SINGLE_ISSUER ring and the process
//    aborted; the new thread's ops are now refused with EPERM;
//  * a Ring write to a socket whose peer is gone killed the process with SIGPIPE; it is EPIPE
//    (or ECONNRESET), a value — the driver ignores SIGPIPE while it has its default action.
#include <catch2/catch_test_macros.hpp>
#include <sys/socket.h>
#include <chrono>
#include <csignal>
#include <expected>
#include <thread>
#include <utility>
#include <signal.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>
#include <cerrno>
#include <coroutine>
#include <tuple>
import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using namespace std::chrono_literals;
using drivers::LocalDriver;

namespace {
template <class A>
concept AwaitableAsLvalue = requires(A& a) { a.operator co_await(); };
template <class A>
concept AwaitableAsRvalue = requires(A&& a) { std::move(a).operator co_await(); };

Task<void> timer_in_link(LocalDriver& d) {
    auto l = co_await d.submit(events::link(events::Timeout{1ms}, events::Nop{}));
    REQUIRE(l.result.has_value());
    CHECK(*l.result == 2u);
    REQUIRE(l.event.result<0>().has_value());
    CHECK(*l.event.result<0>() == events::Timeout::expired);
    CHECK(l.event.result<1>().has_value()); // the Nop ran: the fired timer did not fail the chain
}

Task<void> timed_out_timer(LocalDriver& d) {
    events::Timeout t{10s};
    const OpHandle h = t.handle; // copies share the record
    auto r = co_await d.submit(events::with_timeout(std::move(t), 1ms));
    CHECK(r.result.error() == std::errc::timed_out);
    CHECK_FALSE(h.in_flight()); // the timer's own finish ran: the handle names nothing
}

Task<Result<std::size_t>> write_to_gone_peer(LocalDriver& d, io::TcpStream s) {
    Ring ring(d, std::move(s));
    std::vector<std::byte> chunk(64 * 1024);
    for (int i = 0; i < 64; ++i) {
        auto n = co_await ring.write_all(chunk);
        if (!n) co_return std::unexpected(n.error());
    }
    co_return 0u;
}
} // namespace

TEST_CASE("a fired Timeout is a success, in a link too", "[regression][timeout]") {
    auto d = test::make_driver<LocalDriver>();
    block_on(*d, timer_in_link(*d));
}

TEST_CASE("with_timeout of a timer that runs out clears the timer's handle", "[regression][timeout]") {
    auto d = test::make_driver<LocalDriver>();
    block_on(*d, timed_out_timer(*d));
}

TEST_CASE("an op and a when_any are awaited once, as rvalues", "[regression][await]") {
    using Op = Submission<events::Nop, LocalDriver>;
    STATIC_REQUIRE(AwaitableAsRvalue<Op>);
    STATIC_REQUIRE_FALSE(AwaitableAsLvalue<Op>);
    using Any = decltype(when_any(std::declval<Op>(), std::declval<Op>()));
    STATIC_REQUIRE(AwaitableAsRvalue<Any>);
    STATIC_REQUIRE_FALSE(AwaitableAsLvalue<Any>);
}

TEST_CASE("a LocalDriver whose creator exited refuses a new thread's ops with EPERM",
          "[regression][local][threads]") {
    std::unique_ptr<LocalDriver> d;
    std::thread([&] { d = LocalDriver::create().value(); }).join();
    Result<std::uint32_t> got = 0u;
    std::thread([&] {
        auto done = block_on(*d, test::completed(*d, events::Nop{}));
        got = done.result;
    }).join();
    CHECK(got.error() == std::errc::operation_not_permitted);
}

TEST_CASE("a Ring write to a socket whose peer is gone is an error value, not SIGPIPE",
          "[regression][ring][signal]") {
    std::signal(SIGPIPE, SIG_DFL); // as in a program that never touched it
    auto d = test::make_driver<LocalDriver>(); // creating a driver ignores it
    test::SocketPair p;
    p.b = test::Fd();                      // the peer is gone
    auto r = block_on(*d, write_to_gone_peer(*d, io::TcpStream(io::OwnedFd(std::exchange(p.a.fd, -1)))));
    REQUIRE_FALSE(r);
    CHECK((r.error() == std::errc::broken_pipe || r.error() == std::errc::connection_reset));
}
