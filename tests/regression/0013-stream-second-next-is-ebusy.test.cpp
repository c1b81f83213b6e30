// SPDX-License-Identifier: MIT
// Found by the outside attack on issue 13's sixth step: a second coroutine calling next() on a
// MultishotStream while the first was suspended there took the first's place — the first was
// never resumed, and got no error. The stream serves one awaiter at a time; now a next() while
// another runs is EBUSY at once, and the first one gets the item.
#include <catch2/catch_test_macros.hpp>

#include <coroutine>
#include <cstddef>
#include <memory>
#include <optional>
#include <system_error>
#include <utility>
import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using drivers::LocalDriver;

namespace {
template <class S, class T>
test::Probe next_one(S& stream, std::optional<T>& got) {
    got = co_await stream.next();
}
} // namespace

TEST_CASE("a second next() while one waits is EBUSY and leaves the first its item",
          "[regression][stream]") {
    auto d = test::make_driver<LocalDriver>();
    test::Listener l;
    const int fds = test::fd_count();
    {
        auto stream = accept_stream(*d, l.fd.get());
        using Item = decltype(stream)::Item;
        std::optional<Result<Item>> first, second;
        auto a = next_one(stream, first);
        (void)d->poll();
        auto b = next_one(stream, second);
        REQUIRE(second);
        CHECK((!*second && second->error() == std::errc::device_or_resource_busy));
        REQUIRE_FALSE(first);

        test::Fd client = l.connect_client();
        for (int i = 0; i < 50 && !first; ++i) (void)d->run_once(false);
        REQUIRE(first);
        CHECK(first->has_value());

        second.reset(); // the first next() ended: the stream serves again
        auto c = next_one(stream, second);
        test::Fd client2 = l.connect_client();
        for (int i = 0; i < 50 && !second; ++i) (void)d->run_once(false);
        REQUIRE(second);
        CHECK(second->has_value());
    }
    for (int i = 0; i < 10 && d->in_flight() != 0; ++i) (void)d->run_once(false);
    CHECK(d->in_flight() == 0);
    CHECK(test::fd_count() == fds);
}
