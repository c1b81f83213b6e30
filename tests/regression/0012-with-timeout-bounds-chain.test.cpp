// SPDX-License-Identifier: MIT
// Regression (issue 12, item 10): with_timeout(link(a, b), d) bounded only b — a read stuck in
// a never timed out. A LINK_TIMEOUT bounds one SQE, so the combination (and any nesting of
// events that record their own SQEs' results, whose inner results nobody wrote) no longer
// compiles; a chain is bounded by racing it against a timer.
#include <catch2/catch_test_macros.hpp>
#include <sys/ioctl.h>
#include <chrono>
#include <unistd.h>

#include <cstddef>
#include <vector>
#include <utility>
#include <coroutine>
#include <tuple>
import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using namespace std::chrono_literals;
using drivers::LocalDriver;

namespace {
template <class E>
concept Boundable = requires(E e) { events::with_timeout(std::move(e), 1ms); };
template <class E>
concept Linkable = requires(E e) { events::link(std::move(e), events::Nop{}); };

} // namespace

TEST_CASE("with_timeout of a link, and nested links, do not compile", "[regression][link]") {
    using Chain = events::Link<events::Nop, events::Nop>;
    using Timed = events::WithTimeout<events::Nop>;
    STATIC_REQUIRE(Boundable<events::Nop>);
    STATIC_REQUIRE_FALSE(Boundable<Chain>);
    STATIC_REQUIRE_FALSE(Boundable<Timed>);
    STATIC_REQUIRE_FALSE(Boundable<events::Fixed<Chain>>);
    STATIC_REQUIRE_FALSE(Linkable<Chain>);
    STATIC_REQUIRE_FALSE(Linkable<Timed>);
}

namespace {
Task<std::size_t> chain_or_deadline(LocalDriver& d, int fd) {
    auto r = co_await when_any(submit(d, events::link(events::Recv<>{fd, std::vector<std::byte>(8)},
                                                      events::Nop{})),
                               submit(d, events::Timeout(5ms)));
    CHECK(r.get<0>().result.error() == std::errc::operation_canceled);
    co_return r.index();
}
} // namespace

TEST_CASE("a chain stuck in its first event is bounded by racing it against a timer",
          "[regression][link][when_any]") {
    auto d = test::make_driver<LocalDriver>();
    test::SocketPair s;
    CHECK(block_on(*d, chain_or_deadline(*d, s.a.get())) == 1u);
    for (int i = 0; i < 100 && d->in_flight() > 0; ++i) d->poll(); // the cancel's own CQE
    CHECK(d->in_flight() == 0u);
    REQUIRE(::write(s.b.get(), "late", 4) == 4);
    CHECK(test::readable(s.a.get()) == 4); // the recv is gone: nothing took them
}
