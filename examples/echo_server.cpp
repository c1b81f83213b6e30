// SPDX-License-Identifier: MIT
// ringbahn:example.echo_server — a TCP echo server on 127.0.0.1 with pooled buffers, on a
// Runtime of --threads N cores: one core accepts, and each connection is handed to a core in
// turn (one task per connection, one pool per core). With --self-test C it also runs C clients
// on the main thread (a LocalDriver of its own), checks every echoed byte, and exits.
// Run: ringbahn.example.echo_server [--port P] [--threads N] [--self-test C]
#include <sys/socket.h>

#include <atomic>
#include <coroutine>
#include <cstdio>
#include <cstdlib>
#include <expected>
#include <string_view>
#include <vector>

import ringbahn;

using namespace ringbahn;
using Driver = drivers::LocalDriver;

// Echo until the peer closes: read what is there, write it back. Runs on the core it was
// handed to, with that core's pool; its ops go to that core's driver.
Task<void> serve(io::TcpStream conn, policies::Pooled policy) {
    Ring ring(*Runtime::here(), std::move(conn), std::move(policy));
    for (;;) {
        auto data = co_await ring.fill_buf();
        if (!data || data->empty()) break; // error or end of stream
        if (!co_await ring.write_all(*data)) break;
        ring.consume(data->size());
    }
    (void)co_await ring.close();
}

// Accepts on one core and hands each connection to a core in turn, until the listener is shut
// down (accept then fails). A connection handed to a stopping core is closed, never leaked.
Task<void> accept_loop(Runtime& rt, io::TcpListener& listener, std::vector<policies::Pooled>& pools) {
    for (;;) {
        auto conn = co_await listener.accept(*Runtime::here());
        if (!conn) co_return;
        (void)conn->set_nodelay();
        const unsigned core = rt.pick();
        (void)rt.spawn_on(core, serve(std::move(*conn), pools[core]));
    }
}

// A client: sends 50 messages of varied sizes and checks each echo byte for byte.
Task<void> client(Driver& d, io::SocketAddress to, int id, std::atomic<int>& ok, int& left, DoneSignal& all) {
    bool good = false;
    if (auto conn = co_await io::TcpStream::connect(d, to)) {
        Ring ring(d, std::move(*conn), policies::Heap<16 * 1024>{});
        good = true;
        for (int r = 0; r < 50 && good; ++r) {
            std::vector<std::byte> msg(std::size_t(1 + (id * 7919 + r * 104729) % 20000));
            for (std::size_t i = 0; i < msg.size(); ++i) msg[i] = std::byte((i * 31 + id + r) & 0xff);
            std::vector<std::byte> back(msg.size());
            good = co_await ring.write_all(msg) && co_await ring.read_exact(back) && back == msg;
        }
        good = good && (co_await ring.close()).has_value();
    }
    ok += good;
    if (--left == 0) all.set();
}

int main(int argc, char** argv) {
    int port = 0, threads = 1, clients = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string_view flag = argv[i];
        const int value = std::atoi(argv[i + 1]);
        if (flag == "--port") port = value;
        else if (flag == "--threads") threads = value < 1 ? 1 : value;
        else if (flag == "--self-test") clients = value;
    }
    auto listener = io::TcpListener::bind(*io::SocketAddress::v4("127.0.0.1", std::uint16_t(port)), 1024);
    if (!listener) {
        std::fprintf(stderr, "echo_server: bind: %s\n", listener.error().message().c_str());
        return 1;
    }
    const auto at = listener->local_address().value();
    auto rt = Runtime::create({.cores = unsigned(threads)}).value();
    // Per core, 64 buffers of 16 KiB serve its connections; more wait their turn.
    std::vector<policies::Pooled> pools;
    for (int t = 0; t < threads; ++t)
        pools.push_back(policies::Pooled{BufferPool::create(64, 16 * 1024, WhenEmpty::wait).value()});
    std::printf("echo_server: %d core(s), listening on 127.0.0.1:%u\n", threads, unsigned(at.port()));
    std::fflush(stdout);
    if (clients == 0) {
        rt->run(accept_loop(*rt, *listener, pools)); // serve until killed
        return 0;
    }
    (void)rt->spawn_on(0, accept_loop(*rt, *listener, pools));
    auto d = Driver::create().value();
    std::atomic<int> ok{0};
    int left = clients;
    DoneSignal all;
    for (int i = 0; i < clients; ++i) d->spawn(client(*d, at, i, ok, left, all));
    d->run_until(all);
    rt->stop(); // every core drains: what is still open is cancelled and closed
    std::printf("echo_server: %d/%d clients echoed 50 messages each over %d core(s), every byte checked\n",
                ok.load(), clients, threads);
    return ok.load() == clients ? 0 : 1;
}
