// SPDX-License-Identifier: MIT
// NOP and 4 KiB random-read benchmarks: raw liburing loops and their ringbahn equivalents.
#pragma once
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <coroutine>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "bench_common.hpp"
#include "raw.hpp"

import ringbahn;

namespace bench {

inline std::unique_ptr<ringbahn::drivers::LocalDriver> local_driver() {
    return ringbahn::drivers::LocalDriver::create({.entries = ring_entries}).value();
}

// --- NOP ---------------------------------------------------------------------------------

struct Counter {
    long left;
    ringbahn::DoneSignal done;
    void one_finished() {
        if (--left == 0) done.set();
    }
};

inline ringbahn::Task<void> nop_worker(ringbahn::drivers::LocalDriver& d, long n, Counter& c) {
    for (long i = 0; i < n; ++i) (void)co_await ringbahn::submit(d, ringbahn::events::Nop{});
    c.one_finished();
}

[[gnu::noinline]] inline double ringbahn_nop(unsigned qd, long ops) {
    auto d = local_driver();
    Counter c{qd, {}};
    const double t0 = now_seconds();
    for (unsigned i = 0; i < qd; ++i) d->spawn(nop_worker(*d, ops / qd, c));
    d->run_until(c.done);
    return double(ops / qd * qd) / (now_seconds() - t0);
}

// --- 4 KiB random reads from a file in the page cache ------------------------------------

// Zero-copy, as the raw loop: fill_buf hands out the Ring's own buffer, consume releases it.
template <class R>
ringbahn::Task<void> read_worker(R& ring, const ReadFile& f, unsigned first, unsigned step,
                                 Counter& c) {
    for (std::size_t i = first; i < f.offsets.size(); i += step) {
        (void)ring.seek(f.offsets[i]);
        auto data = co_await ring.fill_buf();
        if (!data || data->size() != block) std::exit(3);
        ring.consume(block);
    }
    c.one_finished();
}

// (noinline: bench/callgrind counts this call alone.)
// qd workers, each a Ring<File, Policy> over its own dup of the fd, seeking and reading 4 KiB
// into the Ring's leased buffer.
template <class MakePolicy>
[[gnu::noinline]] double ringbahn_read(const ReadFile& f, unsigned qd, MakePolicy make_policy) {
    using namespace ringbahn;
    auto d = local_driver();
    auto policy = make_policy(*d, qd);
    using Policy = decltype(policy);
    std::vector<Ring<io::File, Policy, drivers::LocalDriver>> rings;
    rings.reserve(qd);
    for (unsigned i = 0; i < qd; ++i)
        rings.emplace_back(*d, io::File(io::OwnedFd(::dup(f.fd))), policy);
    Counter c{qd, {}};
    const double t0 = now_seconds();
    for (unsigned i = 0; i < qd; ++i) d->spawn(read_worker(rings[i], f, i, qd, c));
    d->run_until(c.done);
    return double(f.offsets.size()) / (now_seconds() - t0);
}

} // namespace bench
