// SPDX-License-Identifier: MIT
// ringbahn:example.http_server — a multi-core HTTP/1.1 server on the public API.
//   GET /             a small fixed body
//   GET /file/<name>  a file from --root (names of [A-Za-z0-9._-] only: nothing escapes it)
//   other methods 405; malformed 400 (and the connection closes); headers over 8 KiB 431.
// Keep-alive and pipelining: requests are parsed in place from the read buffer, answered in
// order, and a batch of pipelined responses goes out in one write. A Runtime core per worker
// (--threads N, default: every core), each with its own SO_REUSEPORT listener, multishot
// accept and a provided-buffer ring (idle connections hold no buffer). SIGINT/SIGTERM: stop
// accepting, let responses in flight finish, close the idle connections, drain every core,
// exit 0 — and exit 1 if any fd opened since start is still open.
// Defences, as a real server needs them (defaults in Limits below):
//   --header-timeout-ms  a request's header must be complete this long after its first byte,
//                        else 408 and close (slow-loris: one byte at a time does not reset it);
//   --idle-timeout-ms    a keep-alive connection with no request for this long is closed;
//   --max-connections    per worker; past it a new connection gets 503 and is closed (default:
//                        the process's fd limit, raised to its hard limit, shared by workers);
//   --send-timeout-ms    a response the client does not take within this (30 s) closes the
//                        connection (a client that never reads cannot pin a response);
//   --park-after-ms      a connection idle this long (default 100) leaves its coroutine and
//                        waits in an epoll set (16 bytes); the idle timeout is checked there
//                        once a second.
// An idle connection holds no read buffer (provided buffers), no output buffer, no frame.
// Run: ringbahn.example.http_server [--port P] [--threads N] [--root DIR] [--header-timeout-ms MS]
//      [--idle-timeout-ms MS] [--max-connections N]
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
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
#include <latch>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "http_parser.hpp"
#include "response.hpp"

import ringbahn;

using namespace ringbahn;
using Driver = drivers::LocalDriver;

struct Limits {
    std::chrono::milliseconds header_timeout{10'000}; // nginx: client_header_timeout 60 s
    std::chrono::milliseconds idle_timeout{60'000};   // nginx: keepalive_timeout 75 s
    std::chrono::milliseconds park_after{100};        // idle this long: parked (see Parked)
    std::chrono::milliseconds send_timeout{30'000};   // nginx: send_timeout 60 s
    std::chrono::milliseconds shutdown_grace{5'000};  // responses in flight at SIGTERM
    int max_connections = 0;                          // per worker; 0: from the fd limit
};

// Connections idle for park_after are parked in an epoll set that the ring polls — one PollAdd
// for all of them — not in a coroutine each: an idle connection costs this process a table
// entry (16 bytes), the way nginx keeps them. Busy keep-alive connections never get here.
// Level-triggered: data that came meanwhile wakes it at once.
struct Parked {
    std::chrono::steady_clock::time_point deadline{};
    bool parked = false;
};

struct Worker {
    Driver& driver;
    std::shared_ptr<ProvidedBuffers> buffers;
    Limits limits;
    int root;            // directory fd for /file/
    int stop;            // eventfd: readable once shutdown begins
    int busy = 0;        // connections between reading a request and finishing its response
    int connections = 0; // open now
    bool stopping = false;
    long requests = 0;
    int epoll = -1;              // the idle connections
    std::vector<Parked> parked;  // indexed by fd

    void close_parked() { // at shutdown, once the runtime stopped
        for (std::size_t fd = 0; fd < parked.size(); ++fd)
            if (parked[fd].parked) ::close(int(fd));
        ::close(epoll);
    }
};

// Hands an idle connection's fd to the epoll set until data comes or its idle time is up.
void park(Worker& w, io::TcpStream conn, std::chrono::milliseconds idle_so_far) {
    const int fd = conn.release();
    if (std::size_t(fd) >= w.parked.size()) w.parked.resize(std::size_t(fd) + 1024);
    w.parked[std::size_t(fd)] = {std::chrono::steady_clock::now() + w.limits.idle_timeout - idle_so_far, true};
    ::epoll_event ev{.events = EPOLLIN | EPOLLRDHUP, .data = {.fd = fd}};
    if (::epoll_ctl(w.epoll, EPOLL_CTL_ADD, fd, &ev) != 0) {
        ::close(fd); // out of kernel memory for epoll items: shed this connection
        w.parked[std::size_t(fd)].parked = false;
        --w.connections;
    }
}

void unpark(Worker& w, int fd) {
    ::epoll_ctl(w.epoll, EPOLL_CTL_DEL, fd, nullptr);
    w.parked[std::size_t(fd)].parked = false;
}

// Appends the response to one request; files are read through the ring. Only regular files
// are served (a directory or a FIFO under --root is 404: a FIFO would block its open or read).
Task<void> respond(Worker& w, const http::Request& req, http::Output& out) {
    ++w.requests;
    if (req.method != "GET") co_return http::append_status(out, 405, req.keep_alive);
    if (req.target == "/") co_return http::append_ok(out, http::hello_body, "text/plain", req.keep_alive);
    const std::string_view name = http::file_name(req.target);
    if (name.empty()) co_return http::append_status(out, 404, req.keep_alive);
    auto fd = co_await submit(w.driver, events::Openat{w.root, name, O_RDONLY | O_NONBLOCK});
    if (!fd) co_return http::append_status(out, 404, req.keep_alive);
    struct stat st{};
    if (::fstat(fd->native_handle(), &st) != 0 || !S_ISREG(st.st_mode)) {
        (void)co_await submit(w.driver, events::Close{fd->release()});
        co_return http::append_status(out, 404, req.keep_alive);
    }
    std::string body;
    std::uint64_t at = 0;
    bool failed = false;
    for (;;) {
        auto [r, n] = co_await submit(w.driver, events::Read<>{fd->native_handle(), std::vector<std::byte>(64 * 1024), at});
        if (!n) failed = true; // not end of file: an error, answered as one
        if (!n || *n == 0) break;
        body.append(reinterpret_cast<const char*>(r.buf.data()), *n);
        at += *n;
    }
    (void)co_await submit(w.driver, events::Close{fd->release()});
    if (failed) co_return http::append_status(out, 500, false);
    http::append_ok(out, body, "application/octet-stream", req.keep_alive);
}

// Sends all of out (MSG_WAITALL: the kernel retries short sends) and hands the buffer back;
// false if the client does not take it within send_timeout (it is not reading) or is gone.
Task<bool> send_all(Worker& w, int fd, http::Output& out) {
    while (!out.empty()) {
        auto [sent, n] = co_await submit(
            w.driver, events::with_timeout(events::Send<http::Output>{fd, std::move(out), MSG_WAITALL},
                                           w.limits.send_timeout));
        out = std::move(sent.event.buf);
        if (!n || *n == 0) co_return false;
        out.erase(out.begin(), out.begin() + long(*n));
    }
    co_return true;
}

// Lingering close: the client may still be sending the request we refused; closing with
// unread bytes would reset the connection before it reads our answer.
// Two seconds at most in all: a client trickling bytes does not keep it open.
template <class R>
Task<void> linger(R& ring, const Worker& w) {
    (void)ring.io().shutdown_write();
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (!w.stopping) {
        const auto left = end - std::chrono::steady_clock::now();
        if (left <= std::chrono::nanoseconds(0)) break;
        if (!ring.set_read_timeout(left)) break;
        auto rest = co_await ring.fill_buf();
        if (!rest || rest->empty()) break;
        ring.consume(rest->size());
    }
}

// Serves requests while they come; a client trickling one byte at a time cannot hold it (the
// header deadline starts with a request's first byte). Once nothing is pending it parks the
// socket, and its frame, Ring and buffers are gone while the client idles.
Task<void> connection(Worker& w, io::TcpStream conn) {
    // Reads through a Ring whose buffers the kernel picks (an idle connection holds none);
    // responses go out with plain send ops from one growing vector, moved in and back out.
    Ring ring(w.driver, std::move(conn), policies::Provided{w.buffers});
    const int fd = ring.io().native_handle();
    std::string partial; // a request split across reads
    http::Output out;    // the responses to one batch of pipelined requests
    std::chrono::steady_clock::time_point header_deadline{};
    bool open = true, refused = false;
    while (open && !w.stopping) {
        if (partial.empty()) {
            // Between requests: a busy client's next one usually comes within park_after.
            if (!ring.set_read_timeout(std::min(w.limits.park_after, w.limits.idle_timeout))) break;
        } else {
            const auto left = header_deadline - std::chrono::steady_clock::now();
            if (!ring.set_read_timeout(std::max<std::chrono::nanoseconds>(left, std::chrono::milliseconds(1))))
                break;
        }
        auto data = co_await ring.fill_buf();
        if (!data && data.error() == std::errc::timed_out && partial.empty() &&
            !ring.holds_read_buffer()) {
            // Idle: nothing was read (a timed-out read took no bytes), nothing is buffered.
            // Parked, its frame, Ring and buffers are gone until the client speaks again.
            co_return park(w, std::move(ring.io()), std::min(w.limits.park_after, w.limits.idle_timeout));
        }
        if (!data && data.error() == std::errc::timed_out && !partial.empty()) {
            http::append_status(out, 408, false); // a header that never finished
            (void)co_await send_all(w, fd, out);
            refused = true;
            break;
        }
        if (!data || data->empty()) break; // closed, or idle too long
        if (partial.empty()) header_deadline = std::chrono::steady_clock::now() + w.limits.header_timeout;
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
        out = {}; // an idle connection keeps no output buffer
        --w.busy;
    }
    if (refused) co_await linger(ring, w);
    (void)co_await ring.close();
    --w.connections;
}

// Wakes parked connections whose data came (each gets a connection() again) and closes those
// idle past their deadline (checked once a second). One poll op on the epoll fd serves them all.
Task<void> idle_connections(Worker& w) {
    ::epoll_event ready[256];
    auto next_sweep = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    while (!w.stopping) {
        (void)co_await submit(w.driver, events::with_timeout(events::PollAdd{w.epoll, POLLIN},
                                                             std::chrono::seconds(1)));
        for (int n = 256; n == 256;) {
            n = ::epoll_wait(w.epoll, ready, 256, 0);
            for (int i = 0; i < n; ++i) {
                const int fd = ready[i].data.fd;
                unpark(w, fd);
                w.driver.spawn(connection(w, io::TcpStream(io::OwnedFd(fd))));
            }
        }
        const auto now = std::chrono::steady_clock::now();
        if (now < next_sweep) continue;
        next_sweep = now + std::chrono::seconds(1);
        for (std::size_t fd = 0; fd < w.parked.size(); ++fd)
            if (w.parked[fd].parked && w.parked[fd].deadline <= now) {
                unpark(w, int(fd));
                ::close(int(fd));
                --w.connections;
            }
    }
}

// Over the connection limit: answer 503 and close, without reading (and without a Ring).
Task<void> turn_away(Worker& w, io::TcpStream conn) {
    http::Output out;
    http::append_status(out, 503, false);
    (void)co_await send_all(w, conn.native_handle(), out);
    (void)conn.shutdown_write();
    (void)co_await submit(w.driver, events::Close{conn.release()});
}

// Accepts until shutdown; then waits for the responses in flight.
Task<void> serve(Worker& w, io::TcpListener& listener) {
    auto incoming = listener.incoming(w.driver);
    for (;;) {
        auto next = co_await when_any(incoming.next(), submit(w.driver, events::PollAdd{w.stop, POLLIN}));
        if (next.index() == 1) break;
        auto& conn = next.get<0>();
        if (!conn) {
            // EMFILE, ENOMEM, ...: keep serving the connections we have, and try again shortly
            // (the stream re-arms the accept; the backlog keeps the clients meanwhile).
            (void)co_await submit(w.driver, events::Timeout(std::chrono::milliseconds(10)));
            continue;
        }
        if (w.connections >= w.limits.max_connections) {
            w.driver.spawn(turn_away(w, std::move(*conn)));
            continue;
        }
        (void)conn->set_nodelay();
        ++w.connections;
        // A client that already sent its request is served at once; the others wait parked
        // (16 bytes each) — thousands of silent connections cost no frames.
        char byte;
        if (::recv(conn->native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0)
            w.driver.spawn(connection(w, std::move(*conn)));
        else
            park(w, std::move(*conn), std::chrono::milliseconds(0));
    }
    w.stopping = true;
    // Let the responses in flight finish, for shutdown_grace at most: what is still going
    // then (a client not reading) is cancelled with the driver.
    const auto end = std::chrono::steady_clock::now() + w.limits.shutdown_grace;
    while (w.busy > 0 && std::chrono::steady_clock::now() < end)
        co_await submit(w.driver, events::Timeout(std::chrono::milliseconds(1)));
} // idle connections are closed when the driver goes (their reads are cancelled)

// Counts a worker down however its frame ends: finished, or destroyed by a runtime that stopped
// on its own (a parameter: it ends with the frame even if the frame never started).
struct CountDown {
    std::latch* latch;
    CountDown(CountDown&& o) noexcept : latch(std::exchange(o.latch, nullptr)) {}
    explicit CountDown(std::latch& l) noexcept : latch(&l) {}
    ~CountDown() { if (latch) latch->count_down(); }
};

// One core's worker: its listener, provided buffers and epoll set, until shutdown. The Worker
// lives in main: the connection tasks that use it end when the runtime stops, after this one.
Task<void> work(std::optional<Worker>& slot, io::TcpListener& listener, Limits limits, int root, int stop,
                CountDown) {
    Driver& driver = *Runtime::here();
    // 512 buffers of 16 KiB serve the connections that have data right now.
    Worker& w = slot.emplace(driver, ProvidedBuffers::create(driver, 512, 16 * 1024).value(), limits, root, stop);
    w.epoll = ::epoll_create1(EPOLL_CLOEXEC);
    driver.spawn(idle_connections(w));
    co_await serve(w, listener);
}

int main(int argc, char** argv) {
    int port = 8080;
    unsigned threads = std::max(1u, std::thread::hardware_concurrency());
    std::string root = ".";
    Limits limits;
    for (int i = 1; i < argc; i += 2) {
        const std::string_view a = argv[i];
        const char* v = i + 1 < argc ? argv[i + 1] : "";
        if (a == "--port") port = std::atoi(v);
        else if (a == "--threads") threads = unsigned(std::max(1, std::atoi(v)));
        else if (a == "--root") root = v;
        else if (a == "--header-timeout-ms") limits.header_timeout = std::chrono::milliseconds(std::max(1, std::atoi(v)));
        else if (a == "--idle-timeout-ms") limits.idle_timeout = std::chrono::milliseconds(std::max(1, std::atoi(v)));
        else if (a == "--max-connections") limits.max_connections = std::max(1, std::atoi(v));
        else if (a == "--park-after-ms") limits.park_after = std::chrono::milliseconds(std::max(1, std::atoi(v)));
        else if (a == "--send-timeout-ms") limits.send_timeout = std::chrono::milliseconds(std::max(1, std::atoi(v)));
        else {
            std::fprintf(stderr,
                         "usage: %s [--port P] [--threads N] [--root DIR] [--header-timeout-ms MS]"
                         " [--idle-timeout-ms MS] [--max-connections N] [--park-after-ms MS] [--send-timeout-ms MS]\n", argv[0]);
            return 2;
        }
    }
    // Every connection is an fd: take the hard limit, and share it between the workers (a
    // few fds kept for the listeners, the root, files being served).
    ::rlimit nofile{};
    ::getrlimit(RLIMIT_NOFILE, &nofile);
    nofile.rlim_cur = nofile.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &nofile);
    if (limits.max_connections == 0)
        limits.max_connections = std::max(1, int((std::min<rlim_t>(nofile.rlim_cur, 1 << 20) - 64) / threads));
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
    std::printf("listening on 127.0.0.1:%d with %u thread(s), files from %s; up to %d connections per "
                "thread, header timeout %lld ms, idle timeout %lld ms\n",
                port, threads, root.c_str(), limits.max_connections,
                static_cast<long long>(limits.header_timeout.count()),
                static_cast<long long>(limits.idle_timeout.count()));
    std::fflush(stdout);

    // A core per worker; 256 SQ entries batch a loop turn's SQEs (ops in flight are not
    // limited by it).
    auto rt = Runtime::create({.cores = threads, .driver = {.entries = 256}}).value();
    std::vector<std::optional<Worker>> workers(threads);
    std::latch finished(threads);
    for (unsigned core = 0; core < threads; ++core)
        (void)rt->spawn_on(core, work(workers[core], listeners[core], limits, root_fd, stop, CountDown(finished)));
    int sig = 0;
    sigwait(&signals, &sig);
    const std::uint64_t one = 1;
    (void)!::write(stop, &one, sizeof one);
    finished.wait();
    rt->stop(); // every core drains: the idle connections' reads are cancelled, sockets closed
    long requests = 0;
    for (auto& w : workers)
        if (w) {
            requests += w->requests;
            w->close_parked();
        }
    listeners.clear();
    ::close(stop);
    ::close(root_fd);
    const int fds_at_exit = http::open_fds();
    std::printf("shut down on signal %d after %ld requests; fds open at start %d, at exit %d\n", sig,
                requests, fds_at_start, fds_at_exit);
    return fds_at_exit == fds_at_start ? 0 : 1;
}
