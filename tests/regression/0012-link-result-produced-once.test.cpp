// SPDX-License-Identifier: MIT
// Regression (issue 12, item 3): Link::result<I>() re-ran the event's finish() on every call;
// for a provided-buffer read it leased the buffer again and gave the first lease back to the
// kernel while the caller still held it (the next read overwrote the caller's bytes,
// ProvidedBuffers::available() drifted, a buffer could go back twice). Results are now produced
// once, when the link completes.
#include <catch2/catch_test_macros.hpp>
#include <unistd.h>

#include <memory>
#include <utility>
#include <coroutine>
#include <tuple>
import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using drivers::LocalDriver;

namespace {
using ReadLink = events::Link<events::Nop, events::ReadProvided>;
Task<Returned<ReadLink>> linked_read(LocalDriver& d, int fd, std::shared_ptr<ProvidedBuffers> ring) {
    co_return co_await submit(d, events::link(events::Nop{},
                                              events::ReadProvided{fd, current_offset, std::move(ring)}));
}
} // namespace

TEST_CASE("a link's results are produced once: reading result<I>() again takes no buffer",
          "[regression][link][provided]") {
    auto d = test::make_driver<LocalDriver>();
    auto ring = ProvidedBuffers::create(*d, 4, 64).value();
    test::Pipe p;
    REQUIRE(::write(p.write.get(), "data", 4) == 4);
    auto [link, r] = block_on(*d, linked_read(*d, p.read.get(), ring));
    REQUIRE(r);
    for (int i = 0; i < 3; ++i) {
        CHECK(link.result<0>() == 0u);
        CHECK(link.result<1>() == 4u);
    }
    auto& read = std::get<1>(link.events);
    REQUIRE(read.lease);
    CHECK(read.lease->size() == 4u);
    CHECK(ring->available() == 3u); // exactly one lent out
    read.lease.reset();
    CHECK(ring->available() == 4u); // and back once
}
