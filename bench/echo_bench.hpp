// SPDX-License-Identifier: MIT
// TCP echo over 127.0.0.1: a raw liburing server and ringbahn servers, each in its own process
// pinned to CPU 1, under the same paced load from this process on CPU 0. Reported: the server's
// CPU time per round trip (wait4's rusage) and the load's p50/p99 latency.
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <coroutine>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "nop_read_bench.hpp"

import ringbahn;

namespace bench {

// --- the ringbahn servers ----------------------------------------------------------------

struct ServerState {
    int open = 0;
    int accepted = 0;
    ringbahn::DoneSignal done;
};

// As examples/echo_server.cpp: Ring<TcpStream, Policy>, one spawned task per connection.
template <class Policy>
ringbahn::Task<void> ring_serve(ringbahn::drivers::LocalDriver& d, ringbahn::io::TcpStream conn,
                                Policy policy, ServerState& s) {
    ringbahn::Ring ring(d, std::move(conn), std::move(policy));
    for (;;) {
        auto data = co_await ring.fill_buf();
        if (!data || data->empty()) break;
        if (!co_await ring.write_all(*data)) break;
        ring.consume(data->size());
    }
    (void)co_await ring.close();
    if (--s.open == 0 && s.accepted == echo_connections) s.done.set();
}

// The same with events: the buffer moves into the recv, back out, into the send, back out.
inline ringbahn::Task<void> event_serve(ringbahn::drivers::LocalDriver& d, ringbahn::io::TcpStream conn,
                                        ServerState& s) {
    using namespace ringbahn;
    std::vector<std::byte> buf(echo_buffer);
    const int fd = conn.native_handle();
    for (;;) {
        auto [recv, n] = co_await submit(d, events::Recv<>{fd, std::move(buf)});
        buf = std::move(recv.buf);
        if (!n || *n == 0) break;
        std::size_t sent = 0;
        while (sent < *n) {
            auto [send, m] = co_await submit(d, events::Send<>{fd, std::move(buf), 0, *n - sent});
            (void)send;
            buf = std::move(send.buf);
            if (!m || *m == 0) co_return;
            sent += *m;
            if (sent < *n) std::memmove(buf.data(), buf.data() + *m, *n - sent);
            // (a short send is rare on loopback; shifting keeps the loop simple)
        }
    }
    if (--s.open == 0 && s.accepted == echo_connections) s.done.set();
}

enum class Serve { events, pooled, provided };

inline ringbahn::Task<void> ringbahn_accept(ringbahn::drivers::LocalDriver& d, int listen_fd,
                                            Serve kind, ServerState& s) {
    using namespace ringbahn;
    auto pool = BufferPool::create(64, echo_buffer, WhenEmpty::wait).value();
    auto ring = ProvidedBuffers::create(d, 64, echo_buffer).value();
    for (int i = 0; i < echo_connections; ++i) {
        auto fd = co_await submit(d, events::Accept{listen_fd});
        if (!fd) std::exit(4);
        io::TcpStream conn{std::move(*fd)};
        (void)conn.set_nodelay();
        ++s.open;
        ++s.accepted;
        if (kind == Serve::pooled)
            d.spawn(ring_serve(d, std::move(conn), policies::Pooled{pool}, s));
        else if (kind == Serve::provided)
            d.spawn(ring_serve(d, std::move(conn), policies::Provided{ring}, s));
        else
            d.spawn(event_serve(d, std::move(conn), s));
    }
}

inline void ringbahn_echo_server(int listen_fd, Serve kind) {
    auto d = local_driver();
    ServerState s;
    d->spawn(ringbahn_accept(*d, listen_fd, kind, s));
    d->run_until(s.done);
}

// --- the paced load ------------------------------------------------------------------------

struct EchoResult {
    double cpu_us_per_rt = 0, p50_us = 0, p99_us = 0, achieved_rate = 0;
    long round_trips = 0;
};

// Forks `serve(listen_fd)` onto CPU 1, drives it at `rate` round trips/s for `seconds`.
template <class Serve>
EchoResult run_echo(Serve serve, std::size_t msg, double rate, double seconds) {
    sockaddr_in addr;
    const int lfd = loopback_listener(addr, 128, 5);
    const pid_t pid = fork();
    if (pid == 0) {
        pin_to(1);
        serve(lfd);
        _exit(0);
    }
    close(lfd);
    pin_to(0);
    std::vector<int> fds(echo_connections);
    const int ep = epoll_create1(EPOLL_CLOEXEC);
    for (int i = 0; i < echo_connections; ++i) {
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (connect(fds[i], (sockaddr*)&addr, sizeof addr) != 0) std::exit(6);
        const int one = 1;
        setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        epoll_event ev{EPOLLIN, {.u32 = std::uint32_t(i)}};
        epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
    }
    std::vector<char> out(msg), in(msg);
    for (std::size_t i = 0; i < msg; ++i) out[i] = char('a' + i % 26);
    const double period = echo_connections / rate; // each connection's send interval
    std::vector<double> next(echo_connections), sent_at(echo_connections);
    std::vector<std::size_t> got(echo_connections, 0);
    std::vector<bool> waiting(echo_connections, false);
    std::vector<double> lat;
    lat.reserve(std::size_t(rate * seconds * 1.2));
    const double t0 = now_seconds(), end = t0 + seconds;
    for (int i = 0; i < echo_connections; ++i) next[i] = t0 + period * i / echo_connections;
    long corrupted = 0;
    for (double now = t0; now < end; now = now_seconds()) {
        double soonest = end;
        for (int i = 0; i < echo_connections; ++i) {
            if (!waiting[i] && now >= next[i]) {
                if (write(fds[i], out.data(), msg) != ssize_t(msg)) std::exit(7);
                waiting[i] = true;
                sent_at[i] = now;
                got[i] = 0;
                next[i] += period;
                if (next[i] < now - 10 * period) next[i] = now; // far behind: do not burst
            }
            if (!waiting[i]) soonest = std::min(soonest, next[i]);
        }
        epoll_event evs[echo_connections];
        const int timeout_ms = int(std::max(0.0, (soonest - now_seconds()) * 1000));
        const int n = epoll_wait(ep, evs, echo_connections, std::min(timeout_ms, 1));
        for (int k = 0; k < n; ++k) {
            const int i = int(evs[k].data.u32);
            const ssize_t r = read(fds[i], in.data() + got[i], msg - got[i]);
            if (r <= 0) {
                std::fprintf(stderr, "echo: connection %d: read %zd (%s)\n", i, r, std::strerror(errno));
                std::exit(8);
            }
            if (std::memcmp(in.data() + got[i], out.data() + got[i], size_t(r)) != 0) ++corrupted;
            got[i] += std::size_t(r);
            if (got[i] == msg) {
                waiting[i] = false;
                lat.push_back((now_seconds() - sent_at[i]) * 1e6);
            }
        }
    }
    // Let the last round trips finish, then close: the server exits when all are closed.
    for (int i = 0; i < echo_connections; ++i) {
        while (waiting[i]) {
            const ssize_t r = read(fds[i], in.data() + got[i], msg - got[i]);
            if (r <= 0) break;
            if ((got[i] += std::size_t(r)) == msg) waiting[i] = false;
        }
        close(fds[i]);
    }
    close(ep);
    const double elapsed = now_seconds() - t0;
    int status = 0;
    rusage ru{};
    wait4(pid, &status, 0, &ru);
    if (corrupted) {
        std::fprintf(stderr, "echo: %ld corrupted reads\n", corrupted);
        std::exit(9);
    }
    EchoResult r;
    r.round_trips = long(lat.size());
    const double cpu = double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                       double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    r.cpu_us_per_rt = cpu * 1e6 / double(std::max(1L, r.round_trips));
    std::sort(lat.begin(), lat.end());
    if (!lat.empty()) {
        r.p50_us = lat[lat.size() / 2];
        r.p99_us = lat[std::min(lat.size() - 1, lat.size() * 99 / 100)];
    }
    r.achieved_rate = double(r.round_trips) / elapsed;
    return r;
}

inline std::vector<Row> echo_rows(std::size_t msg, bool quick) {
    const double rate = 40'000, seconds = quick ? 0.5 : 3.0;
    const int rounds = quick ? 1 : 3;
    auto raw = [](int fd) { raw_echo_server(fd, echo_connections); };
    auto ring = [](int fd) { ringbahn_echo_server(fd, Serve::pooled); };
    auto evs = [](int fd) { ringbahn_echo_server(fd, Serve::events); };
    std::vector<double> raw_cpu, ring_cpu, ev_cpu, ring_ratio, ev_ratio, raw_p50, raw_p99,
        ring_p50, ring_p99, ev_p50, ev_p99;
    long rts = 0;
    for (int r = 0; r < rounds; ++r) {
        auto a = run_echo(raw, msg, rate, seconds);
        auto b = run_echo(ring, msg, rate, seconds);
        auto c = run_echo(evs, msg, rate, seconds);
        raw_cpu.push_back(a.cpu_us_per_rt), ring_cpu.push_back(b.cpu_us_per_rt), ev_cpu.push_back(c.cpu_us_per_rt);
        ring_ratio.push_back(a.cpu_us_per_rt / b.cpu_us_per_rt);
        ev_ratio.push_back(a.cpu_us_per_rt / c.cpu_us_per_rt);
        raw_p50.push_back(a.p50_us), raw_p99.push_back(a.p99_us);
        ring_p50.push_back(b.p50_us), ring_p99.push_back(b.p99_us);
        ev_p50.push_back(c.p50_us), ev_p99.push_back(c.p99_us);
        rts += a.round_trips + b.round_trips + c.round_trips;
    }
    const std::string m = std::to_string(msg) + "B";
    std::vector<Row> rows;
    rows.push_back({"echo " + m + " server cpu/rt, Ring+pooled", "us/rt", false, median(raw_cpu), median(ring_cpu), median(ring_ratio)});
    rows.push_back({"echo " + m + " server cpu/rt, events", "us/rt", false, median(raw_cpu), median(ev_cpu), median(ev_ratio)});
    rows.push_back({"echo " + m + " p50 latency, Ring+pooled", "us", false, median(raw_p50), median(ring_p50), median(raw_p50) / median(ring_p50)});
    rows.push_back({"echo " + m + " p99 latency, Ring+pooled", "us", false, median(raw_p99), median(ring_p99), median(raw_p99) / median(ring_p99)});
    rows.push_back({"echo " + m + " p99 latency, events", "us", false, median(raw_p99), median(ev_p99), median(raw_p99) / median(ev_p99)});
    for (const auto& row : rows)
        std::printf("%-44s raw %12.2f  ringbahn %12.2f %-10s ratio %.3f\n", row.name.c_str(), row.raw,
                    row.ours, row.unit.c_str(), row.ratio);
    std::printf("echo %s: %ld round trips at %.0f/s paced, every byte checked\n", m.c_str(), rts, rate);
    std::fflush(stdout);
    return rows;
}

} // namespace bench
