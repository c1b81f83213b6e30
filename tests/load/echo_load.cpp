// SPDX-License-Identifier: MIT
// Load test: an echo server (one LocalDriver, pooled buffers, a task per connection) under
// 1,000 concurrent loopback connections from a client thread (its own LocalDriver), each
// sending seeded random payloads and checking every echoed byte, for a bounded time.
// Reports round trips/s, bytes verified, peak RSS; exits non-zero on any lost or wrong byte.
// Run: ringbahn.load.echo [--connections N] [--seconds S] [--seed X]
#include <sys/resource.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <coroutine>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <expected>
#include <fstream>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

import ringbahn;

using namespace ringbahn;
using Driver = drivers::LocalDriver;
using Clock = std::chrono::steady_clock;

namespace {

Task<void> serve(Driver& d, io::TcpStream conn, policies::Pooled policy) {
    Ring ring(d, std::move(conn), std::move(policy));
    for (;;) {
        auto data = co_await ring.fill_buf();
        if (!data || data->empty()) break;
        if (!co_await ring.write_all(*data)) break;
        ring.consume(data->size());
    }
    (void)co_await ring.close();
}

Task<void> accept_loop(Driver& d, io::TcpListener& l, policies::Pooled policy) {
    for (;;) {
        auto conn = co_await l.accept(d);
        if (!conn) co_return; // the listener was shut down
        d.spawn(serve(d, std::move(*conn), policy));
    }
}

struct Totals {
    long round_trips = 0, bytes = 0, wrong = 0, failed = 0;
    int left;
    DoneSignal done;
};

Task<void> client(Driver& d, io::SocketAddress to, std::uint64_t seed, Clock::time_point end, Totals& t) {
    std::mt19937_64 rng(seed);
    auto conn = co_await io::TcpStream::connect(d, to);
    if (!conn) {
        ++t.failed;
    } else {
        Ring ring(d, std::move(*conn), policies::Heap<8192>{});
        std::vector<std::byte> msg, back;
        while (Clock::now() < end) {
            msg.resize(1 + rng() % 4096);
            for (auto& b : msg) b = std::byte(rng());
            back.assign(msg.size(), std::byte{0});
            if (!co_await ring.write_all(msg) || !co_await ring.read_exact(back)) {
                ++t.failed;
                break;
            }
            t.wrong += back != msg;
            ++t.round_trips;
            t.bytes += long(msg.size());
        }
        (void)co_await ring.close();
    }
    if (--t.left == 0) t.done.set();
}

long peak_rss_kib() {
    std::ifstream status("/proc/self/status");
    for (std::string line; std::getline(status, line);)
        if (line.rfind("VmHWM:", 0) == 0) return std::atol(line.c_str() + 6);
    return -1;
}

} // namespace

int main(int argc, char** argv) {
    int connections = 1000;
    double seconds = 20;
    std::uint64_t seed = 42;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string_view f = argv[i];
        if (f == "--connections") connections = std::atoi(argv[i + 1]);
        else if (f == "--seconds") seconds = std::atof(argv[i + 1]);
        else if (f == "--seed") seed = std::strtoull(argv[i + 1], nullptr, 10);
    }
    rlimit lim{};
    getrlimit(RLIMIT_NOFILE, &lim);
    lim.rlim_cur = lim.rlim_max; // two fds per connection, plus the rings
    setrlimit(RLIMIT_NOFILE, &lim);

    auto listener = io::TcpListener::bind(*io::SocketAddress::parse("127.0.0.1:0"), 4096).value();
    const auto at = listener.local_address().value();
    std::thread server([&] {
        auto d = Driver::create({.entries = 1024}).value();
        // A pending read holds its lease while it waits for data, and the echo needs a second
        // one to write: the pool must cover both for every connection, or it deadlocks
        // (provided-buffer rings, where the kernel picks a buffer only when data arrives,
        // are the way around that).
        auto pool = BufferPool::create(std::uint16_t(2 * connections + 64), 8192, WhenEmpty::wait).value();
        block_on(*d, accept_loop(*d, listener, policies::Pooled{pool}));
    });

    auto d = Driver::create({.entries = 1024}).value();
    Totals t;
    t.left = connections;
    const auto start = Clock::now();
    const auto end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    for (int i = 0; i < connections; ++i) d->spawn(client(*d, at, seed + std::uint64_t(i), end, t));
    d->run_until(t.done);
    const double took = std::chrono::duration<double>(Clock::now() - start).count();
    ::shutdown(listener.native_handle(), SHUT_RDWR);
    server.join();

    std::printf("load: %d connections, %.1f s, seed %llu: %ld round trips (%.0f/s), %ld bytes echoed and "
                "verified, %ld wrong, %ld failed, peak RSS %ld KiB\n",
                connections, took, (unsigned long long)seed, t.round_trips, double(t.round_trips) / took, t.bytes,
                t.wrong, t.failed, peak_rss_kib());
    return t.wrong == 0 && t.failed == 0 && t.round_trips > connections ? 0 : 1;
}
