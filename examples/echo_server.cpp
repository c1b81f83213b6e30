// SPDX-License-Identifier: MIT
// ringbahn:example.echo_server — a TCP echo server on 127.0.0.1 with pooled buffers: one
// spawned task per connection; --threads N runs N threads, each with its own LocalDriver and
// its own SO_REUSEPORT listener on the same port (the kernel spreads connections). With
// --self-test C it also runs C clients on another thread, checks every echoed byte, and exits.
// Run: ringbahn.example.echo_server [--port P] [--threads N] [--self-test C]
#include <sys/socket.h>

#include <atomic>
#include <coroutine>
#include <cstdio>
#include <cstdlib>
#include <expected>
#include <string_view>
#include <thread>
#include <vector>

import ringbahn;

using namespace ringbahn;
using Driver = drivers::LocalDriver;

// Echo until the peer closes: read what is there, write it back.
Task<void> serve(Driver& d, io::TcpStream conn, policies::Pooled policy) {
    Ring ring(d, std::move(conn), std::move(policy));
    for (;;) {
        auto data = co_await ring.fill_buf();
        if (!data || data->empty()) break; // error or end of stream
        if (!co_await ring.write_all(*data)) break;
        ring.consume(data->size());
    }
    (void)co_await ring.close();
}

// Accepts until the listener is shut down (accept then fails), then returns.
Task<void> accept_loop(Driver& d, io::TcpListener& listener, policies::Pooled policy) {
    for (;;) {
        auto conn = co_await listener.accept(d);
        if (!conn) co_return;
        (void)conn->set_nodelay();
        d.spawn(serve(d, std::move(*conn), policy));
    }
}

void server_thread(io::TcpListener& listener) {
    auto d = Driver::create().value();
    // 64 buffers of 16 KiB serve every connection of this thread; more wait their turn.
    auto pool = BufferPool::create(64, 16 * 1024, WhenEmpty::wait).value();
    block_on(*d, accept_loop(*d, listener, policies::Pooled{pool}));
} // the driver's teardown cancels what is still open

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
    std::vector<io::TcpListener> listeners;
    auto at = *io::SocketAddress::v4("127.0.0.1", std::uint16_t(port));
    for (int t = 0; t < threads; ++t) {
        auto l = io::TcpListener::bind(at, 1024, /*reuse_port=*/true);
        if (!l) {
            std::fprintf(stderr, "echo_server: bind: %s\n", l.error().message().c_str());
            return 1;
        }
        at = l->local_address().value(); // the others join the port the first one got
        listeners.push_back(std::move(*l));
    }
    std::printf("echo_server: %d thread(s) listening on 127.0.0.1:%u\n", threads, unsigned(at.port()));
    std::fflush(stdout);
    std::vector<std::thread> servers;
    for (auto& l : listeners) servers.emplace_back(server_thread, std::ref(l));
    if (clients == 0) {
        for (auto& s : servers) s.join(); // serve until killed
        return 0;
    }
    auto d = Driver::create().value();
    std::atomic<int> ok{0};
    int left = clients;
    DoneSignal all;
    for (int i = 0; i < clients; ++i) d->spawn(client(*d, at, i, ok, left, all));
    d->run_until(all);
    for (auto& l : listeners) ::shutdown(l.native_handle(), SHUT_RDWR); // ends the accept loops
    for (auto& s : servers) s.join();
    std::printf("echo_server: %d/%d clients echoed 50 messages each over %d thread(s), every byte checked\n",
                ok.load(), clients, threads);
    return ok.load() == clients ? 0 : 1;
}
