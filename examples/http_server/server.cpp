// SPDX-License-Identifier: MIT
// ringbahn:example.http_server — a multi-core HTTP/1.1 server on the public API.
//   GET /             a small fixed body
//   GET /file/<name>  a file from --root (names of [A-Za-z0-9._-] only: nothing escapes it)
//   other methods 405; malformed 400 (and the connection closes); headers over 8 KiB 431.
// Keep-alive and pipelining: requests are parsed in place from the read buffer, answered in
// order, and a batch of pipelined responses goes out in one write. One LocalDriver per thread
// (--threads N, default: every core), each with its own SO_REUSEPORT listener, multishot
// accept and a provided-buffer ring (idle connections hold no buffer). SIGINT/SIGTERM: stop
// accepting, let responses in flight finish, close the idle connections, drain every driver,
// exit 0 — and exit 1 if any fd opened since start is still open.
// Run: ringbahn.example.http_server [--port P] [--threads N] [--root DIR]
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <netinet/in.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <span>
#include <variant>
#include <coroutine>
#include <cstdio>
#include <cstdlib>
#include <expected>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "http_parser.hpp"
#include "response.hpp"

import ringbahn;

using namespace ringbahn;
using Driver = drivers::LocalDriver;

struct Worker {
    Driver& driver;
    std::shared_ptr<BufferRing> buffers;
    int root;           // directory fd for /file/
    int stop;           // eventfd: readable once shutdown begins
    int busy = 0;       // connections between reading a request and finishing its response
    bool stopping = false;
    long requests = 0;
};

// Appends the response to one request; files are read through the ring.
Task<void> respond(Worker& w, const http::Request& req, http::Output& out) {
    ++w.requests;
    if (req.method != "GET") co_return http::append_status(out, 405, req.keep_alive);
    if (req.target == "/") co_return http::append_ok(out, http::hello_body, "text/plain", req.keep_alive);
    const std::string_view name = http::file_name(req.target);
    if (name.empty()) co_return http::append_status(out, 404, req.keep_alive);
    auto [o, fd] = co_await submit(w.driver, events::Openat{w.root, name, O_RDONLY});
    if (!fd) co_return http::append_status(out, 404, req.keep_alive);
    std::string body;
    std::uint64_t at = 0;
    for (;;) {
        auto [r, n] = co_await submit(w.driver, events::Read<>{int(*fd), std::vector<std::byte>(64 * 1024), at});
        if (!n || *n == 0) break;
        body.append(reinterpret_cast<const char*>(r.buf.data()), *n);
        at += *n;
    }
    (void)co_await submit(w.driver, events::Close{int(*fd)});
    http::append_ok(out, body, "application/octet-stream", req.keep_alive);
}

// Sends all of out (MSG_WAITALL: the kernel retries short sends) and hands the buffer back.
Task<bool> send_all(Worker& w, int fd, http::Output& out) {
    while (!out.empty()) {
        auto [sent, n] = co_await submit(w.driver, events::Send<http::Output>{fd, std::move(out), MSG_WAITALL});
        out = std::move(sent.buf);
        if (!n || *n == 0) co_return false;
        out.erase(out.begin(), out.begin() + long(*n));
    }
    co_return true;
}

Task<void> connection(Worker& w, io::TcpStream conn) {
    // Reads through a Ring whose buffers the kernel picks (an idle connection holds none);
    // responses go out with plain send ops from one growing vector, moved in and back out.
    Ring ring(w.driver, std::move(conn), policies::Provided{w.buffers});
    const int fd = ring.io().native_handle();
    std::string partial; // a request split across reads
    http::Output out;    // the responses to one batch of pipelined requests
    bool open = true, refused = false;
    while (open && !w.stopping) {
        auto data = co_await ring.fill_buf();
        if (!data || data->empty()) break;
        std::string_view in(reinterpret_cast<const char*>(data->data()), data->size());
        if (!partial.empty()) in = partial.append(in);
        ++w.busy;
        std::size_t used = 0;
        for (;;) {
            const http::Result r = http::parse(in.substr(used));
            if (r.outcome == http::Parse::incomplete) break;
            if (r.outcome == http::Parse::error) {
                http::append_status(out, r.status, false);
                open = false;
                refused = true;
                break;
            }
            co_await respond(w, r.request, out);
            used += r.request.consumed;
            if (!r.request.keep_alive) {
                open = false;
                break;
            }
        }
        partial = open ? std::string(in.substr(used)) : std::string();
        ring.consume(data->size());
        if (!co_await send_all(w, fd, out)) open = false;
        out.clear();
        --w.busy;
    }
    if (refused) {
        // Lingering close: the client may still be sending the request we refused; closing with
        // unread bytes would reset the connection before it reads our answer.
        (void)ring.io().shutdown_write();
        ring.set_read_timeout(std::chrono::seconds(1));
        for (;;) {
            auto rest = co_await ring.fill_buf();
            if (!rest || rest->empty()) break;
            ring.consume(rest->size());
        }
    }
    (void)co_await ring.close();
}

// Accepts until shutdown; then waits for the responses in flight.
Task<void> serve(Worker& w, io::TcpListener& listener) {
    auto incoming = listener.incoming(w.driver);
    for (;;) {
        auto next = co_await when_any(incoming.next(), submit(w.driver, events::PollAdd{w.stop, POLLIN}));
        if (next.index() == 1) break;
        auto& conn = next.get<0>();
        if (!conn) continue; // e.g. EMFILE: keep serving the connections we have
        (void)conn->set_nodelay();
        w.driver.spawn(connection(w, std::move(*conn)));
    }
    w.stopping = true;
    while (w.busy > 0) co_await submit(w.driver, events::Timeout(std::chrono::milliseconds(1)));
} // idle connections are closed when the driver goes (their reads are cancelled)

void worker_thread(io::TcpListener& listener, int root, int stop, std::atomic<long>& requests) {
    auto driver = Driver::create({.entries = 1024}).value();
    auto buffers = BufferRing::create(*driver, 512, 16 * 1024).value();
    Worker w{*driver, buffers, root, stop};
    block_on(*driver, serve(w, listener));
    requests += w.requests;
}

int main(int argc, char** argv) {
    int port = 8080;
    unsigned threads = std::max(1u, std::thread::hardware_concurrency());
    std::string root = ".";
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string_view a = argv[i];
        if (a == "--port") port = std::atoi(argv[i + 1]);
        else if (a == "--threads") threads = unsigned(std::max(1, std::atoi(argv[i + 1])));
        else if (a == "--root") root = argv[i + 1];
        else {
            std::fprintf(stderr, "usage: %s [--port P] [--threads N] [--root DIR]\n", argv[0]);
            return 2;
        }
    }
    ::signal(SIGPIPE, SIG_IGN);
    const int fds_at_start = http::open_fds();
    // Shutdown signals go to sigwait below, not to the workers.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    const int root_fd = ::open(root.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    if (root_fd < 0) {
        std::perror("--root");
        return 2;
    }
    const int stop = ::eventfd(0, EFD_CLOEXEC);
    // Bound here, one after another: with port 0 the first picks the port, the rest share it.
    std::vector<io::TcpListener> listeners;
    for (unsigned t = 0; t < threads; ++t) {
        auto at = io::SocketAddress::v4("127.0.0.1", std::uint16_t(port)).value();
        auto l = io::TcpListener::bind(at, 4096, /*reuse_port=*/true);
        if (!l) {
            std::fprintf(stderr, "bind: %s\n", l.error().message().c_str());
            return 1;
        }
        port = ntohs(reinterpret_cast<const sockaddr_in*>(l->local_address()->data())->sin_port);
        listeners.push_back(std::move(*l));
    }
    std::printf("listening on 127.0.0.1:%d with %u thread(s), files from %s\n", port, threads, root.c_str());
    std::fflush(stdout);

    std::atomic<long> requests{0};
    std::vector<std::thread> workers;
    for (unsigned t = 0; t < threads; ++t)
        workers.emplace_back(worker_thread, std::ref(listeners[t]), root_fd, stop, std::ref(requests));
    int sig = 0;
    sigwait(&signals, &sig);
    const std::uint64_t one = 1;
    (void)!::write(stop, &one, sizeof one);
    for (auto& t : workers) t.join();
    listeners.clear();
    ::close(stop);
    ::close(root_fd);
    const int fds_at_exit = http::open_fds();
    std::printf("shut down on signal %d after %ld requests; fds open at start %d, at exit %d\n", sig,
                requests.load(), fds_at_start, fds_at_exit);
    return fds_at_exit == fds_at_start ? 0 : 1;
}
