// SPDX-License-Identifier: MIT
// ProvidedBuffers: a cancelled read gives its buffer back after the CQE; registration errors.
#include <catch2/catch_test_macros.hpp>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <coroutine>
#include <memory>
#include <random>
#include <thread>
#include <vector>

import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using drivers::LocalDriver;

TEST_CASE("Provided: a cancelled read gives its buffer back after the CQE; registration errors") {
    auto d = test::make_driver<LocalDriver>();
    auto ring = ProvidedBuffers::create(*d, 4, 128).value();
    test::SocketPair sp;
    {
        test::Probe p = [](LocalDriver& d, int fd, std::shared_ptr<ProvidedBuffers> r) -> test::Probe {
            co_await submit(d, events::ReadProvided{fd, current_offset, r});
        }(*d, sp.a.get(), ring);
        d->poll();
        ::write(sp.b.get(), "data", 4); // may land in a buffer before the cancel does
    }
    while (d->in_flight() > 0) d->run_once();
    CHECK(ring->available() == 4u);
    CHECK(ProvidedBuffers::create(*d, 3, 128).error() == std::errc::invalid_argument);  // not a power of 2
    CHECK(ProvidedBuffers::create(*d, 4, 128, 0).error() == std::errc::file_exists);     // group 0 is taken
}
