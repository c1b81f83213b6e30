// SPDX-License-Identifier: MIT
// Small coroutines the tests share, each one op deep, checking nothing (Catch2's macros live in
// ringbahn.test_checks): a Ring's read into 16 bytes and its fill_buf, one event's result, and a
// wait in 1 ms timers until a count is reached.
module;
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

export module ringbahn.test_support:ops;

import ringbahn;

export namespace test {

// A read of at most 16 bytes from a Ring: its count or its error.
template <class R>
ringbahn::Task<ringbahn::Result<std::size_t>> read_some(R& ring) {
    std::vector<std::byte> out(16);
    co_return co_await ring.read(out);
}

// A Ring's fill_buf, as a task (for block_on).
template <class R>
ringbahn::Task<ringbahn::Result<std::span<const std::byte>>> fill_buf(R& ring) {
    co_return co_await ring.fill_buf();
}

// Submits one event whose output is the event and a Result<std::uint32_t> (Returned<E>) and
// gives back the result alone.
template <class D, class E>
ringbahn::Task<ringbahn::Result<std::uint32_t>> result_of(D& d, E e) {
    auto [event, r] = co_await ringbahn::submit(d, std::move(e));
    co_return r;
}

// Runs d's loop in 1 ms timers until `count` reaches n — or, with a limit, until that much
// time has passed (the caller then checks the count).
template <class D>
ringbahn::Task<void> tick_until(D& d, const int& count, int n) {
    while (count < n)
        (void)co_await ringbahn::submit(d, ringbahn::events::Timeout(std::chrono::milliseconds(1)));
}
template <class D>
ringbahn::Task<void> tick_until(D& d, const int& count, int n, std::chrono::milliseconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (count < n && std::chrono::steady_clock::now() < end)
        (void)co_await ringbahn::submit(d, ringbahn::events::Timeout(std::chrono::milliseconds(1)));
}

} // namespace test
