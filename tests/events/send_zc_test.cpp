// SPDX-License-Identifier: MIT
// send_zc / sendmsg_zc: the buffer is held until the notification CQE.
#include <catch2/catch_test_macros.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <coroutine>
#include <cstddef>
#include <string>
#include <utility>
#include <variant>
#include <vector>

import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using drivers::LocalDriver;
using Buf = std::vector<std::byte>;

namespace {
Task<void> zero_copy(LocalDriver& d, int fd, int peer, std::size_t size, test::BufferLedger& frees) {
    test::TrackedBuffer buf(size, frees);
    for (std::size_t i = 0; i < size; ++i) buf.data()[i] = std::byte(i * 7);
    const auto sum = test::fnv1a({buf.data(), size});
    auto [s, n] = co_await submit(d, events::SendZc<test::TrackedBuffer>{fd, std::move(buf)});
    REQUIRE(n == size);
    CHECK(frees.freed() == 0); // came back after the notification, to us
    std::vector<std::byte> got(size);
    std::size_t have = 0;
    while (have < size) {
        const ssize_t r = ::read(peer, got.data() + have, size - have);
        REQUIRE(r > 0);
        have += std::size_t(r);
    }
    CHECK(test::fnv1a(got) == sum);
    std::vector<Buf> parts{Buf(100, std::byte{1}), Buf(200, std::byte{2})};
    auto [m, mn] = co_await submit(d, events::SendmsgZc<>{events::Sendmsg<>{fd, std::move(parts)}});
    CHECK(mn == 300u);
    auto [bad, bn] = co_await submit(d, events::SendZc<>{-1, Buf(8)});
    CHECK(bn.error() == std::errc::bad_file_descriptor);
}
} // namespace

TEST_CASE("send_zc: the buffer is held until the notification CQE, also when the awaiter is gone") {
    auto d = test::make_driver<LocalDriver>();
    test::Listener l;
    test::Fd client = l.connect_client();
    test::Fd server(::accept4(l.fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
    test::BufferLedger frees;
    SECTION("round trip, 64 KiB") {
        block_on(*d, zero_copy(*d, client.get(), server.get(), 64 * 1024, frees));
        CHECK(frees.freed() == 1);
    }
    SECTION("awaiter destroyed mid-flight: freed only after the notification") {
        {
            test::Probe p = [](LocalDriver& d, int fd, test::BufferLedger& f) -> test::Probe {
                co_await submit(d, events::SendZc<test::TrackedBuffer>{fd, test::TrackedBuffer(256 * 1024, f)});
            }(*d, client.get(), frees);
            d->poll();
        }
        // The peer reads nothing yet: a 256 KiB send cannot have been acknowledged in full, so
        // the notification (and with it the free) is still to come — or the send was cancelled.
        std::vector<std::byte> sink(1 << 20);
        while (d->in_flight() > 0) {
            ::recv(server.get(), sink.data(), sink.size(), MSG_DONTWAIT);
            d->run_once(false);
        }
        CHECK(frees.freed() == 1);
    }
}
