// SPDX-License-Identifier: MIT
// Regression (issue 13, outside attack): a stream's next() stopped outside the loop (its
// when_any rival was refused at once) posts its waiter to the driver; with the driver then
// destroyed, destroying the frame unposted from the dead driver — a use-after-free under
// LocalDriver, a hang on a freed mutex under DemoDriver. It now goes through a Poster, which
// checks the driver is alive.
#include <catch2/catch_template_test_macros.hpp>
#include <catch2/catch_test_macros.hpp>
#include <chrono>
#include <optional>
#include <coroutine>
import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using namespace std::chrono_literals;

namespace {
template <class D>
test::Probe stopped_next(D& d, int listen_fd, int& stage) {
    auto incoming = accept_stream(d, listen_fd);
    stage = 1;
    // Two SQEs on a one-entry ring: refused at once with EINVAL, it wins and stops next().
    auto r = co_await when_any(incoming.next(), d.submit(events::with_timeout(events::Nop{}, 1s)));
    stage = 2;
}
} // namespace

TEMPLATE_TEST_CASE("a stopped stream waiter destroyed after its driver touches nothing of it",
                   "[regression][stream][teardown]", drivers::LocalDriver, drivers::DemoDriver) {
    test::Listener l;
    int stage = 0;
    std::optional<test::Probe> frame;
    {
        auto d = test::make_driver<TestType>(1);
        frame.emplace(stopped_next(*d, l.fd.get(), stage));
        CHECK(stage == 1); // suspended in when_any, its stream waiter posted
    } // the driver goes first; the posted waiter is dropped, never resumed
    frame.reset(); // ASan: no use of the freed driver; DemoDriver: no lock of a freed mutex
    CHECK(stage == 1);
}
