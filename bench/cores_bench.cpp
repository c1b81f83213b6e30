// SPDX-License-Identifier: MIT
// Between cores: what a wake-up, a message, a spawn_on and a switch_to cost. Ping-pong between
// two threads over a Runtime Channel (woken by MSG_RING), over a pair of eventfds, and over a
// mutex + condition variable, interleaved rounds, medians. Usage: ringbahn.bench.cores [--quick]
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <coroutine>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench_common.hpp"

import ringbahn;

using namespace ringbahn;

namespace {

ringbahn::Task<void> echo_back(Channel<int> in, Channel<int> out, int rounds) {
    for (int i = 0; i < rounds; ++i) {
        auto v = co_await in.recv();
        if (!v || !co_await out.send(*v)) std::abort();
    }
}
ringbahn::Task<void> serve_ping(Channel<int> to, Channel<int> back, int rounds) {
    for (int i = 0; i < rounds; ++i) {
        if (!co_await to.send(i)) std::abort();
        auto v = co_await back.recv();
        if (!v || *v != i) std::abort();
    }
}

// Round trips per second between core 0 and core 1 of a Runtime.
double channel_ping_pong(Runtime& rt, int rounds) {
    auto to = Channel<int>::create(1).value();
    auto back = Channel<int>::create(1).value();
    if (!rt.spawn_on(1, echo_back(to, back, rounds))) std::abort();
    const double t0 = bench::now_seconds();
    rt.run(serve_ping(to, back, rounds));
    return rounds / (bench::now_seconds() - t0);
}

double eventfd_ping_pong(int rounds) {
    const int a = ::eventfd(0, EFD_CLOEXEC), b = ::eventfd(0, EFD_CLOEXEC);
    std::thread other([&] {
        std::uint64_t v;
        for (int i = 0; i < rounds; ++i)
            if (::read(a, &v, 8) != 8 || ::write(b, &v, 8) != 8) std::abort();
    });
    const double t0 = bench::now_seconds();
    std::uint64_t v = 1;
    for (int i = 0; i < rounds; ++i)
        if (::write(a, &v, 8) != 8 || ::read(b, &v, 8) != 8) std::abort();
    const double rate = rounds / (bench::now_seconds() - t0);
    other.join();
    ::close(a);
    ::close(b);
    return rate;
}

double condvar_ping_pong(int rounds) {
    std::mutex m;
    std::condition_variable cv;
    int turn = 0; // even: the other thread's, odd: ours
    std::thread other([&] {
        for (int i = 0; i < rounds; ++i) {
            std::unique_lock lock(m);
            cv.wait(lock, [&] { return turn == 2 * i + 1; });
            ++turn;
            cv.notify_all();
        }
    });
    const double t0 = bench::now_seconds();
    for (int i = 0; i < rounds; ++i) {
        std::unique_lock lock(m);
        ++turn;
        cv.notify_all();
        cv.wait(lock, [&] { return turn == 2 * i + 2; });
    }
    const double rate = rounds / (bench::now_seconds() - t0);
    other.join();
    return rate;
}

ringbahn::Task<void> tick(std::atomic<int>& done) {
    done.fetch_add(1, std::memory_order_relaxed);
    co_return;
}
ringbahn::Task<void> spawn_many(Runtime& rt, unsigned core, int n, std::atomic<int>& done) {
    for (int i = 0; i < n; ++i)
        if (!rt.spawn_on(core, tick(done))) std::abort();
    while (done.load(std::memory_order_relaxed) < n) (void)co_await rt.switch_to(0); // yield a turn
}
// spawn_on calls per second from core 0, onto `core` (0: itself, started inline; 1: through
// the other core's inbox), until all ran.
double spawn_rate(Runtime& rt, unsigned core, int n) {
    std::atomic<int> done{0};
    const double t0 = bench::now_seconds();
    rt.run(spawn_many(rt, core, n, done));
    return n / (bench::now_seconds() - t0);
}

ringbahn::Task<void> hop(Runtime& rt, int n) {
    for (int i = 0; i < n; ++i)
        if (!co_await rt.switch_to(static_cast<unsigned>(i + 1) % 2)) std::abort();
}
double switch_rate(Runtime& rt, int n) {
    const double t0 = bench::now_seconds();
    rt.run(hop(rt, n));
    return n / (bench::now_seconds() - t0);
}

} // namespace

int main(int argc, char** argv) {
    const bool quick = argc > 1 && std::string(argv[1]) == "--quick";
    const int rounds = quick ? 1 : 5;
    const int n = quick ? 2'000 : 100'000;
    auto rt = Runtime::create({.cores = 2, .pin = true}).value();
    std::vector<double> ch, ev, cv, sp_self, sp_other, sw;
    for (int r = 0; r < rounds; ++r) {
        ch.push_back(channel_ping_pong(*rt, n));
        ev.push_back(eventfd_ping_pong(n));
        cv.push_back(condvar_ping_pong(n));
        sp_self.push_back(spawn_rate(*rt, 0, n));
        sp_other.push_back(spawn_rate(*rt, 1, n));
        sw.push_back(switch_rate(*rt, n));
    }
    auto row = [](const char* what, const std::vector<double>& v) {
        const double m = bench::median(v);
        std::printf("%-52s %12.0f /s %10.0f ns\n", what, m, 1e9 / m);
    };
    std::printf("== between cores, %d rounds of %d, medians (2 threads; ping-pong = one round trip)\n", rounds, n);
    row("ping-pong: Runtime Channel<int> (MSG_RING wake-up)", ch);
    row("ping-pong: two eventfds, blocking read/write", ev);
    row("ping-pong: mutex + condition variable", cv);
    row("spawn_on(own core), task run", sp_self);
    row("spawn_on(other core), task run", sp_other);
    row("switch_to(other core)", sw);
    std::printf("channel ping-pong vs eventfd: %.2f, vs condvar: %.2f\n", bench::median(ch) / bench::median(ev),
                bench::median(ch) / bench::median(cv));
    return 0;
}
