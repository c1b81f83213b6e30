// SPDX-License-Identifier: MIT
// Putting ops together: links, deadlines, when_all / when_any, and zero-copy sends — each with
// the buffers' lifetimes checked (a loser's or a cancelled op's buffer is freed once, after its
// CQE).
#include <catch2/catch_test_macros.hpp>

#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <string>
#include <variant>
#include <vector>

#include "support.hpp"

import ringbahn;

using namespace ringbahn;
using namespace std::chrono_literals;
using drivers::LocalDriver;
using Buf = std::vector<std::byte>;

namespace {

Task<void> write_then_fsync(LocalDriver& d, int fd) {
    auto [l, r] = co_await submit(d, events::link(events::Write<>{fd, test::bytes("linked"), 0},
                                                  events::Fsync{fd}, events::Read<>{fd, Buf(16), 0}));
    REQUIRE(r == 3u); // the number of events, all succeeded
    CHECK(l.result<0>() == 6u);
    CHECK(l.result<1>() == 0u);
    REQUIRE(l.result<2>() == 6u);
    CHECK(test::text(std::get<2>(l.events).buf, 6) == "linked");
}

Task<void> failure_cancels_the_rest(LocalDriver& d, int fd) {
    auto [l, r] = co_await submit(d, events::link(events::Read<>{-1, Buf(8)}, events::Write<>{fd, test::bytes("never"), 0},
                                                  events::Fsync{fd}));
    CHECK(r.error() == std::errc::bad_file_descriptor);
    CHECK(l.result<0>().error() == std::errc::bad_file_descriptor);
    CHECK(l.result<1>().error() == std::errc::operation_canceled);
    CHECK(l.result<2>().error() == std::errc::operation_canceled);
}

} // namespace

TEST_CASE("link: events run in order and come back together") {
    auto d = test::make_driver<LocalDriver>();
    test::Fd f = test::temp_file();
    SECTION("write, fsync, read") { block_on(*d, write_then_fsync(*d, f.get())); }
    SECTION("a failure cancels the rest of the chain") {
        block_on(*d, failure_cancels_the_rest(*d, f.get()));
        char c;
        CHECK(::pread(f.get(), &c, 1, 0) == 0); // the write never ran
    }
}

TEST_CASE("link: destroying the awaiter mid-chain frees every event's buffer once, after the CQEs") {
    auto d = test::make_driver<LocalDriver>();
    test::Pipe empty, out;
    test::FreeCounter frees;
    {
        test::Probe p = [](LocalDriver& d, int in, int w, test::FreeCounter& f) -> test::Probe {
            co_await submit(d, events::link(events::Read<test::CountedBuffer>{in, test::CountedBuffer(64, f)},
                                            events::Write<test::CountedBuffer>{w, test::CountedBuffer(8, f)}));
        }(*d, empty.read.get(), out.write.get(), frees);
        d->poll();
        CHECK(d->in_flight() == 2u); // the read waits; the write waits behind it
    }
    CHECK(frees.count() == 0); // the kernel still holds both
    while (d->in_flight() > 0) d->run_once();
    CHECK(frees.count() == 2);
}

namespace {
Task<void> deadline(LocalDriver& d, int empty_pipe, int full_pipe, test::FreeCounter& frees) {
    const auto start = std::chrono::steady_clock::now();
    auto [slow, r] = co_await submit(d, events::with_timeout(events::Read<test::CountedBuffer>{empty_pipe, test::CountedBuffer(64, frees)}, 20ms));
    CHECK(r.error() == std::errc::timed_out);
    CHECK(std::chrono::steady_clock::now() - start >= 20ms);
    CHECK(frees.count() == 0); // the buffer came back with the result
    auto [fast, r2] = co_await submit(d, events::with_timeout(events::Read<>{full_pipe, Buf(64)}, 10s));
    REQUIRE(r2 == 5u);
    CHECK(test::text(fast.event.buf, 5) == "ready");
}
} // namespace

TEST_CASE("with_timeout: a deadline on any op") {
    auto d = test::make_driver<LocalDriver>();
    test::Pipe empty, full;
    ::write(full.write.get(), "ready", 5);
    test::FreeCounter frees;
    block_on(*d, deadline(*d, empty.read.get(), full.read.get(), frees));
    CHECK(d->in_flight() == 0u); // both timers' CQEs were accounted for
}

TEST_CASE("with_timeout: destroying the awaiter frees the buffer once, after both CQEs") {
    auto d = test::make_driver<LocalDriver>();
    test::Pipe empty;
    test::FreeCounter frees;
    {
        test::Probe p = [](LocalDriver& d, int fd, test::FreeCounter& f) -> test::Probe {
            co_await submit(d, events::with_timeout(events::Read<test::CountedBuffer>{fd, test::CountedBuffer(64, f)}, 10s));
        }(*d, empty.read.get(), frees);
        d->poll(); // in the kernel
    }
    CHECK(frees.count() == 0); // the kernel may still write into it
    while (d->in_flight() > 0) d->run_once();
    CHECK(frees.count() == 1);
}

TEST_CASE("Ring read deadline: timed_out, and the next read still gets the data") {
    auto d = test::make_driver<LocalDriver>();
    auto [r, w] = io::pipe().value();
    Ring ring(*d, std::move(r));
    ring.set_read_timeout(20ms);
    std::byte out[16];
    auto first = block_on(*d, ring.read(out));
    CHECK(first.error() == std::errc::timed_out);
    ::write(w.native_handle(), "late", 4);
    auto second = block_on(*d, ring.read(out));
    REQUIRE(second == 4u);
}

namespace {
Task<void> any_read_or_timer(LocalDriver& d, int empty_pipe, test::FreeCounter& frees) {
    auto won = co_await when_any(submit(d, events::Read<test::CountedBuffer>{empty_pipe, test::CountedBuffer(64, frees)}),
                                 submit(d, events::Timeout(5ms)));
    CHECK(won.index() == 1);
    CHECK(won.get<1>().result == events::Timeout::expired);
    // The losing read was cancelled in place and has settled: its buffer came back with it.
    auto& lost = won.get<0>();
    CHECK(lost.result.error() == std::errc::operation_canceled);
    CHECK(lost.event.buf.size() == 64u);
    CHECK(frees.count() == 0);
}
Task<void> all_of_three(LocalDriver& d, int pipe_r, int pipe_w) {
    auto [w, r, t] = co_await when_all(submit(d, events::Write<>{pipe_w, test::bytes("both")}),
                                       submit(d, events::Read<>{pipe_r, Buf(8)}),
                                       submit(d, events::Timeout(1ms)));
    CHECK(w.result == 4u);
    REQUIRE(r.result == 4u);
    CHECK(test::text(r.event.buf, 4) == "both");
    CHECK(t.result == events::Timeout::expired);
}
} // namespace

TEST_CASE("when_any: the loser is cancelled in place and settles before when_any resumes, its buffer given back") {
    auto d = test::make_driver<LocalDriver>();
    test::Pipe empty;
    test::FreeCounter frees;
    block_on(*d, any_read_or_timer(*d, empty.read.get(), frees));
    CHECK(frees.count() == 1);
    CHECK(d->in_flight() == 0u);
}

TEST_CASE("when_all: every awaitable finishes, values in order") {
    auto d = test::make_driver<LocalDriver>();
    test::Pipe p;
    block_on(*d, all_of_three(*d, p.read.get(), p.write.get()));
}

TEST_CASE("when_any / when_all: destroying the awaiting coroutine cancels every branch") {
    auto d = test::make_driver<LocalDriver>();
    test::Pipe a, b;
    test::FreeCounter frees;
    {
        test::Probe p = [](LocalDriver& d, int x, int y, test::FreeCounter& f) -> test::Probe {
            co_await when_all(submit(d, events::Read<test::CountedBuffer>{x, test::CountedBuffer(8, f)}),
                              when_any(submit(d, events::Read<test::CountedBuffer>{y, test::CountedBuffer(8, f)}),
                                       submit(d, events::Timeout(10s))));
        }(*d, a.read.get(), b.read.get(), frees);
        d->poll();
        CHECK(d->in_flight() == 3u);
    }
    CHECK(frees.count() == 0);
    while (d->in_flight() > 0) d->run_once();
    CHECK(frees.count() == 2);
}

namespace {
Task<void> zero_copy(LocalDriver& d, int fd, int peer, std::size_t size, test::FreeCounter& frees) {
    test::CountedBuffer buf(size, frees);
    for (std::size_t i = 0; i < size; ++i) buf.data()[i] = std::byte(i * 7);
    const auto sum = test::fnv1a({buf.data(), size});
    auto [s, n] = co_await submit(d, events::SendZc<test::CountedBuffer>{fd, std::move(buf)});
    REQUIRE(n == size);
    CHECK(frees.count() == 0); // came back after the notification, to us
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
    test::FreeCounter frees;
    SECTION("round trip, 64 KiB") {
        block_on(*d, zero_copy(*d, client.get(), server.get(), 64 * 1024, frees));
        CHECK(frees.count() == 1);
    }
    SECTION("awaiter destroyed mid-flight: freed only after the notification") {
        {
            test::Probe p = [](LocalDriver& d, int fd, test::FreeCounter& f) -> test::Probe {
                co_await submit(d, events::SendZc<test::CountedBuffer>{fd, test::CountedBuffer(256 * 1024, f)});
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
        CHECK(frees.count() == 1);
    }
}
