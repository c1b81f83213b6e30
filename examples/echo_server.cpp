// SPDX-License-Identifier: MIT
// ringbahn:example.echo_server — a TCP echo server on 127.0.0.1 with pooled buffers: one
// spawned task per connection, all on one LocalDriver. With --self-test N it also runs N
// clients in-process, checks every echoed byte, and exits (that is how ctest runs it).
// Run: ringbahn.example.echo_server [--port P] [--self-test CLIENTS]
#include <coroutine>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <expected>
#include <string>
#include <string_view>
#include <system_error>
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

Task<void> accept_loop(Driver& d, io::TcpListener& listener, policies::Pooled policy, int max) {
    for (int n = 0; max < 0 || n < max; ++n) {
        auto conn = co_await listener.accept(d);
        if (!conn) {
            std::fprintf(stderr, "accept: %s\n", conn.error().message().c_str());
            continue;
        }
        (void)conn->set_nodelay();
        d.spawn(serve(d, std::move(*conn), policy));
    }
}

// A client: sends `rounds` messages of varied sizes and checks each echo byte for byte.
Task<bool> client(Driver& d, io::SocketAddress to, int id, int rounds) {
    auto conn = co_await io::TcpStream::connect(d, to);
    if (!conn) co_return false;
    Ring ring(d, std::move(*conn), policies::Heap<16 * 1024>{});
    for (int r = 0; r < rounds; ++r) {
        std::vector<std::byte> msg(std::size_t(1 + (id * 7919 + r * 104729) % 20000));
        for (std::size_t i = 0; i < msg.size(); ++i) msg[i] = std::byte((i * 31 + id + r) & 0xff);
        if (!co_await ring.write_all(msg)) co_return false;
        std::vector<std::byte> back(msg.size());
        if (!co_await ring.read_exact(back) || back != msg) co_return false;
    }
    co_return (co_await ring.close()).has_value();
}

Task<int> self_test(Driver& d, io::SocketAddress to, int clients) {
    struct Count { int done = 0, ok = 0; DoneSignal all; };
    Count count;
    auto one = [](Driver& d, io::SocketAddress to, int id, Count& c, int total) -> Task<void> {
        c.ok += co_await client(d, to, id, 50);
        if (++c.done == total) c.all.set();
    };
    for (int i = 0; i < clients; ++i) d.spawn(one(d, to, i, count, clients));
    while (!count.all.is_set()) co_await submit(d, events::Nop{}); // let the clients run
    std::printf("echo_server: %d/%d clients echoed 50 messages each, every byte checked\n",
                count.ok, clients);
    co_return count.ok == clients ? 0 : 1;
}

int main(int argc, char** argv) {
    int port = 0, clients = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string_view flag = argv[i];
        if (flag == "--port") port = std::atoi(argv[i + 1]);
        else if (flag == "--self-test") clients = std::atoi(argv[i + 1]);
    }
    auto driver = Driver::create();
    if (!driver) {
        std::fprintf(stderr, "echo_server: io_uring unavailable: %s\n", driver.error().message().c_str());
        return 1;
    }
    Driver& d = **driver;
    auto listener = io::TcpListener::bind(*io::SocketAddress::v4("127.0.0.1", std::uint16_t(port)));
    if (!listener) {
        std::fprintf(stderr, "echo_server: bind: %s\n", listener.error().message().c_str());
        return 1;
    }
    const auto at = listener->local_address().value();
    // 64 buffers of 16 KiB serve every connection; a connection waits when all are in use.
    auto pool = BufferPool::create(64, 16 * 1024, WhenEmpty::wait).value();
    d.spawn(accept_loop(d, *listener, policies::Pooled{pool}, clients > 0 ? clients : -1));
    std::printf("echo_server: listening on 127.0.0.1:%u\n", unsigned(at.port()));
    std::fflush(stdout);
    if (clients > 0) return block_on(d, self_test(d, at, clients));
    DoneSignal never;
    d.run_until(never);
}
