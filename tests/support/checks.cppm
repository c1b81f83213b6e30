// SPDX-License-Identifier: MIT
// ringbahn.test_checks: the test helpers that check as they go (Catch2's REQUIRE/CHECK), shared
// by more than one test file. Catch2 is in the global module fragment, so this module is built
// as its own library and linked by the test executables only (the fuzz targets and the load
// test have no Catch2). Helpers that only give values stay in ringbahn.test_support.
//   Ring streaming: produce (uneven write_all slices, then close), consume_all (read to end of
//     file, checksummed), stream_and_check (one through the other, every byte checked).
//   Events: file_round_trip (write/fsync/read at offsets, the hole reads as zeros), timers (a
//     timer that fires succeeds, then a nop).
module;
#include <catch2/catch_test_macros.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

export module ringbahn.test_checks;

import ringbahn;
import ringbahn.test_support;

export namespace test {

// Writes `data` in uneven slices through write/write_all, then closes (streams: the reader
// sees end of file). `ok`: the close succeeded after every slice was written.
template <class R>
ringbahn::Task<void> produce(R& ring, const std::vector<std::byte>& data, bool& ok) {
    std::span<const std::byte> rest(data);
    std::size_t slice = 1;
    while (!rest.empty()) {
        const std::size_t n = std::min(rest.size(), slice);
        auto r = co_await ring.write_all(rest.first(n));
        if (!r) co_return;
        rest = rest.subspan(n);
        slice = slice * 3 % 20011 + 1; // odd sizes, some above the buffer size
    }
    ok = (co_await ring.close()).has_value();
}

// Reads to end of file with read() into odd-sized spans; returns the checksum and count.
template <class R>
ringbahn::Task<std::pair<std::uint64_t, std::size_t>> consume_all(R& ring, std::size_t expected) {
    std::vector<std::byte> got;
    got.reserve(expected);
    std::vector<std::byte> chunk(7777);
    for (;;) {
        auto n = co_await ring.read(chunk);
        REQUIRE(n.has_value());
        if (*n == 0) break;
        got.insert(got.end(), chunk.begin(), chunk.begin() + long(*n));
    }
    co_return std::pair{fnv1a(got), got.size()};
}

// Streams `data` from one end to the other (the writer spawned, the reader awaited) and checks
// that every byte arrived and the writer closed cleanly.
template <class Policy, class D, class WriteIO, class ReadIO>
void stream_and_check(D& d, const Policy& policy, WriteIO wr_io, ReadIO rd_io,
                      const std::vector<std::byte>& data) {
    ringbahn::Ring writer(d, std::move(wr_io), policy);
    ringbahn::Ring reader(d, std::move(rd_io), policy);
    bool ok = false;
    d.spawn(produce(writer, data, ok));
    auto [sum, n] = ringbahn::block_on(d, consume_all(reader, data.size()));
    CHECK(n == data.size());
    CHECK(sum == fnv1a(data));
    CHECK(ok);
}

// write, fsync, fdatasync and read at offset 5 of a file; the gap before it reads as zeros.
template <class D>
ringbahn::Task<void> file_round_trip(D& d, int fd) {
    namespace events = ringbahn::events;
    using Buf = std::vector<std::byte>;
    auto [w, wn] = co_await ringbahn::submit(d, events::Write<>{fd, bytes("hello, ring"), 5});
    REQUIRE(wn == 11u);
    auto [s, sn] = co_await ringbahn::submit(d, events::Fsync{fd});
    REQUIRE(sn == 0u);
    auto [ds, dsn] = co_await ringbahn::submit(d, events::Fsync{fd, true});
    REQUIRE(dsn == 0u);
    auto [r, rn] = co_await ringbahn::submit(d, events::Read<>{fd, Buf(64), 5});
    REQUIRE(rn == 11u);
    CHECK(text(r.buf, *rn) == "hello, ring");
    auto [hole, hn] = co_await ringbahn::submit(d, events::Read<>{fd, Buf(5), 0});
    REQUIRE(hn == 5u);
    CHECK(hole.buf == Buf(5)); // the gap before offset 5 reads as zeros
}

// A 1 ms timer, then a nop.
template <class D>
ringbahn::Task<void> timers(D& d) {
    using namespace std::chrono_literals;
    auto [t, tn] = co_await ringbahn::submit(d, ringbahn::events::Timeout{1ms});
    CHECK(tn == ringbahn::events::Timeout::expired); // a timer that fires succeeds
    auto [n, nn] = co_await ringbahn::submit(d, ringbahn::events::Nop{});
    CHECK(nn == 0u);
}

} // namespace test
