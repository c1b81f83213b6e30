// SPDX-License-Identifier: MIT
// ringbahn:example.custom_policy — a user's own BufferPolicy (counting_policy.hpp, written only
// against the public concept) carrying a Ring over a pipe, with its lease counts printed.
// Run: ringbahn.example.custom_policy
#include <coroutine>
#include <cstdio>
#include <cstring>
#include <expected>
#include <span>
#include <string_view>
#include <vector>

#include "counting_policy.hpp"

import ringbahn;

using namespace ringbahn;
using Driver = drivers::LocalDriver;

Task<void> produce(Ring<io::Stream, CountingPolicy, Driver>& out, int lines) {
    for (int i = 0; i < lines; ++i) {
        char line[64];
        const int n = std::snprintf(line, sizeof line, "line %d of %d\n", i + 1, lines);
        (void)co_await out.write_all(std::as_bytes(std::span(line, std::size_t(n))));
    }
    (void)co_await out.close();
}

Task<int> consume(Ring<io::Stream, CountingPolicy, Driver>& in) {
    int lines = 0;
    std::vector<std::byte> line;
    while (true) {
        line.clear();
        auto n = co_await in.read_until(std::byte{'\n'}, line);
        if (!n || *n == 0) break;
        ++lines;
    }
    co_return lines;
}

int main() {
    auto driver = Driver::create();
    if (!driver) return 1;
    Driver& d = **driver;
    auto pipe = io::pipe().value();
    LeaseCounters counters;
    Ring writer(d, std::move(pipe.second), CountingPolicy{256, &counters});
    Ring reader(d, std::move(pipe.first), CountingPolicy{256, &counters});
    d.spawn(produce(writer, 1000));
    const int lines = block_on(d, consume(reader));
    std::printf("custom_policy: %d lines through a pipe; leases taken %ld, returned %ld\n", lines,
                counters.taken.load(), counters.returned.load());
    return lines == 1000 && counters.outstanding() == 0 ? 0 : 1;
}
