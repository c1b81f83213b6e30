// SPDX-License-Identifier: MIT
// Rows for issue-7 features, each against the alternative a user would otherwise pick:
// provided-buffer rings against a buffer pool (buffer memory held by idle connections, echo
// CPU per round trip), and send_zc against send over loopback.
#pragma once
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "bench_common.hpp"
#include "echo_bench.hpp"

import ringbahn;

namespace bench {

// --- buffer memory held by idle connections ------------------------------------------------

template <class Policy>
ringbahn::Task<void> idle_reader(ringbahn::drivers::LocalDriver& d, int fd, Policy policy) {
    ringbahn::Ring ring(d, ringbahn::io::TcpStream(ringbahn::io::OwnedFd(fd)), std::move(policy));
    (void)co_await ring.fill_buf(); // waits: nobody writes
}

// Bytes of read buffer held per connection while `conns` connections each wait in a read.
inline double idle_bytes_per_connection(bool provided, int conns) {
    using namespace ringbahn;
    auto d = drivers::LocalDriver::create({.entries = 4096}).value();
    auto pool = BufferPool::create(std::uint16_t(conns), echo_buffer, WhenEmpty::wait).value();
    auto ring = ProvidedBuffers::create(*d, 64, echo_buffer).value();
    std::vector<int> peers;
    for (int i = 0; i < conns; ++i) {
        int sp[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0) std::exit(11);
        peers.push_back(sp[1]);
        if (provided)
            d->spawn(idle_reader(*d, sp[0], policies::Provided{ring}));
        else
            d->spawn(idle_reader(*d, sp[0], policies::Pooled{pool}));
    }
    for (int i = 0; i < 4; ++i) d->poll();
    const double held = provided ? double(ring->count() - ring->available()) * echo_buffer
                                 : double(std::size_t(conns) - pool->available()) * echo_buffer;
    d.reset(); // cancels the reads
    for (int fd : peers) ::close(fd);
    return held / conns;
}

inline std::vector<Row> provided_rows(bool quick) {
    std::vector<Row> rows;
    const int conns = 1000;
    const double pooled = idle_bytes_per_connection(false, conns);
    const double provided = idle_bytes_per_connection(true, conns);
    rows.push_back({"idle read buffer bytes/conn, provided vs pooled", "B/conn", false, pooled, provided,
                    provided == 0 ? 0 : pooled / provided});
    std::printf("%-44s pooled %10.0f  provided %10.0f %-10s (%d idle connections)\n",
                rows.back().name.c_str(), pooled, provided, "B/conn", conns);

    // Echo round trips: the same paced load; CPU per round trip, pooled (A) vs provided (B).
    const double rate = 40'000, seconds = quick ? 0.5 : 3.0;
    const int rounds = quick ? 1 : 3;
    for (std::size_t msg : {std::size_t{64}, std::size_t{4096}}) {
        std::vector<double> a, b, r;
        for (int i = 0; i < rounds; ++i) {
            auto x = run_echo([](int fd) { ringbahn_echo_server(fd, Serve::pooled); }, msg, rate, seconds);
            auto y = run_echo([](int fd) { ringbahn_echo_server(fd, Serve::provided); }, msg, rate, seconds);
            a.push_back(x.cpu_us_per_rt), b.push_back(y.cpu_us_per_rt);
            r.push_back(x.cpu_us_per_rt / y.cpu_us_per_rt);
        }
        Row row{"echo " + std::to_string(msg) + "B cpu/rt, Ring+provided vs Ring+pooled", "us/rt", false,
                median(a), median(b), median(r)};
        std::printf("%-44s pooled %10.2f  provided %10.2f %-10s ratio %.3f\n", row.name.c_str(), row.raw,
                    row.ours, row.unit.c_str(), row.ratio);
        rows.push_back(row);
    }
    std::fflush(stdout);
    return rows;
}

// --- send vs send_zc -----------------------------------------------------------------------

// Bytes the kernel took (a send may be short; what it left is not resent: this measures rate).
template <class MakeEvent>
ringbahn::Task<void> sender(ringbahn::drivers::LocalDriver& d, long n, MakeEvent make, double& bytes) {
    for (long i = 0; i < n; ++i) {
        auto [e, r] = co_await ringbahn::submit(d, make());
        if (!r) std::exit(12);
        bytes += double(*r);
    }
}

// MB/s of `msg`-byte messages sent over a loopback TCP connection drained by another thread.
inline double send_rate(bool zero_copy, std::size_t msg, double megabytes) {
    using namespace ringbahn;
    sockaddr_in addr;
    const int lfd = loopback_listener(addr, 4, 13);
    const int tx = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (::connect(tx, (sockaddr*)&addr, sizeof addr) != 0) std::exit(14);
    const int rx = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    const long n = long(megabytes * 1e6 / double(msg));
    std::thread drain([&] {
        pin_to(0);
        std::vector<char> sink(1 << 20);
        while (::recv(rx, sink.data(), sink.size(), 0) > 0) {} // to end of file
    });
    pin_to(1);
    auto d = local_driver();
    std::vector<std::byte> payload(msg, std::byte{'z'});
    double bytes = 0;
    const double t0 = now_seconds();
    if (zero_copy)
        block_on(*d, sender(*d, n, [&] { return events::SendZc<>{tx, payload}; }, bytes));
    else
        block_on(*d, sender(*d, n, [&] { return events::Send<>{tx, payload}; }, bytes));
    ::shutdown(tx, SHUT_WR);
    drain.join();
    const double mbs = bytes / 1e6 / (now_seconds() - t0);
    ::close(tx), ::close(rx), ::close(lfd);
    return mbs;
}

inline std::vector<Row> send_zc_rows(bool quick) {
    std::vector<Row> rows;
    const int rounds = quick ? 1 : 5;
    for (std::size_t msg : {std::size_t{4096}, std::size_t{65536}}) {
        const double mb = quick ? 64 : 512;
        // A = send, B = send_zc: the ratio is send_zc's throughput relative to send's.
        Row row = compare("send_zc vs send " + std::to_string(msg / 1024) + "K loopback", "MB/s", true,
                          rounds, [&] { return send_rate(false, msg, mb); },
                          [&] { return send_rate(true, msg, mb); });
        rows.push_back(row);
    }
    return rows;
}

} // namespace bench
