// SPDX-License-Identifier: MIT
// bench/c10k_loader — the client side of bench/c10k: holds many idle connections to an HTTP
// server on 127.0.0.1 and checks that it still answers new ones.
//   1. opens --idle N connections that send nothing and --half M that send half a request
//      header (no final blank line), from 127.0.0.2, in batches the listen backlog can absorb;
//   2. after a second, counts the ones the server closed ("dropped": EOF, RST or any bytes);
//      the rest are "held" — from the client's side, so that includes any the server has not
//      accepted yet (still in its listen queue);
//   3. times --fresh K sequential requests, each on a new connection (connect to full response);
//   4. with --pid, reports the server's RSS (the process and its children: nginx's worker) and
//      open fds before and after holding the connections (server_fds_added: how many it accepted).
// Every wait is bounded, so a server that stops accepting or answering shows up as counts, not
// as a hang. Prints one line of key=value pairs on stdout; progress goes to stderr.
// Plain POSIX sockets and poll(2): C++20, no other dependency.
// Usage: c10k_loader --port P --idle N --half M --fresh K [--pid SERVER_PID]
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr int batch_size = 500;              // well under the listen backlog (somaxconn 4096)
constexpr auto batch_timeout = 5s;           // a dropped SYN is retried after 1 s and 3 s
constexpr auto pause_between_batches = 20ms; // lets the server accept the batch
constexpr auto settle_time = 1s;             // before checking which connections the server closed
constexpr auto request_timeout = 2s;         // per fresh request, connect to full response
constexpr int give_up_after_unanswered = 10; // in a row: the rest would time out the same way

constexpr std::string_view half_request = "GET / HTTP/1.1\r\nHost: x\r\n";
constexpr std::string_view full_request = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

int remaining_ms(Clock::time_point deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    return int(std::max<long long>(0, left.count()));
}

// Closes with a reset (SO_LINGER {1, 0}): no TIME_WAIT, so ephemeral ports do not pile up
// between runs.
void close_with_reset(int fd) {
    const linger reset{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    ::close(fd);
}

bool send_all_now(int fd, std::string_view bytes) {
    // A few dozen bytes on a fresh connection: the socket buffer takes them in one go.
    return ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) == ssize_t(bytes.size());
}

constexpr std::uint32_t server_address = INADDR_LOOPBACK; // 127.0.0.1
// Held connections come from another loopback address. Linux picks a connection's ephemeral
// port by walking the port range until the 4-tuple is free: with 15,000 held connections from
// the same address to the same server, each fresh connect() would search past them all
// (~0.6 ms here), a client-side cost that would hide the server's.
constexpr std::uint32_t held_source_address = INADDR_LOOPBACK + 1; // 127.0.0.2

sockaddr_in ipv4(std::uint32_t address, int port) {
    sockaddr_in at{};
    at.sin_family = AF_INET;
    at.sin_port = htons(std::uint16_t(port));
    at.sin_addr.s_addr = htonl(address);
    return at;
}

// A non-blocking socket with connect(2) to the server started, from `source` (0: the default,
// 127.0.0.1): the fd, or -1 if it failed at once (refused, no fd or no port left).
int start_connect(int port, std::uint32_t source = 0) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (source != 0) {
        // The port is still chosen by connect(), among the ports free for this 4-tuple.
        const int one = 1;
        ::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        const sockaddr_in from = ipv4(source, 0);
        if (::bind(fd, reinterpret_cast<const sockaddr *>(&from), sizeof from) != 0) {
            ::close(fd);
            return -1;
        }
    }
    const sockaddr_in to = ipv4(server_address, port);
    if (::connect(fd, reinterpret_cast<const sockaddr *>(&to), sizeof to) == 0 ||
        errno == EINPROGRESS)
        return fd;
    close_with_reset(fd);
    return -1;
}

bool connect_succeeded(int fd) {
    int error = 0;
    socklen_t size = sizeof error;
    return ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size) == 0 && error == 0;
}

// --- the server's footprint, from /proc ---------------------------------------------------------

std::vector<pid_t> process_and_children(pid_t pid) {
    std::vector<pid_t> pids{pid};
    DIR *proc = ::opendir("/proc");
    if (!proc) return pids;
    while (const dirent *entry = ::readdir(proc)) {
        const pid_t candidate = pid_t(std::atoi(entry->d_name));
        if (candidate <= 0) continue;
        std::ifstream stat("/proc/" + std::to_string(candidate) + "/stat");
        std::string line;
        if (!std::getline(stat, line)) continue;
        // "pid (comm) state ppid ...": comm may hold spaces, so parse after the last ')'.
        const auto close_paren = line.rfind(')');
        if (close_paren == std::string::npos) continue;
        char state = 0;
        int parent = 0;
        if (std::sscanf(line.c_str() + close_paren + 1, " %c %d", &state, &parent) == 2 &&
            parent == pid)
            pids.push_back(candidate);
    }
    ::closedir(proc);
    return pids;
}

std::optional<long> vm_rss_kb(pid_t pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(status, line);)
        if (line.starts_with("VmRSS:")) return std::atol(line.c_str() + 6);
    return std::nullopt;
}

long open_fd_count(pid_t pid) {
    DIR *fds = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
    if (!fds) return 0;
    long count = 0;
    while (const dirent *entry = ::readdir(fds))
        if (entry->d_name[0] != '.') ++count;
    ::closedir(fds);
    return count;
}

struct Footprint {
    long rss_kb = 0;
    long fds = 0;
};

// The process and its children together (nginx: master and worker); nullopt if it is gone.
std::optional<Footprint> server_footprint(pid_t pid) {
    if (::kill(pid, 0) != 0 && errno == ESRCH) return std::nullopt;
    Footprint total;
    for (const pid_t p : process_and_children(pid)) {
        const auto rss = vm_rss_kb(p);
        if (!rss) {
            if (p == pid) return std::nullopt; // a zombie has no VmRSS: the server has exited
            continue;
        }
        total.rss_kb += *rss;
        total.fds += open_fd_count(p);
    }
    return total;
}

// --- phase 1 and 2: held connections ------------------------------------------------------------

struct Opened {
    std::vector<int> fds;
    int failed = 0;
};

// Opens `count` connections in batches; each sends `greeting` (may be empty) once connected.
// A batch in which nothing connects ends the phase: the server is not accepting, and every
// further batch would wait out its timeout too. Those connections count as failed.
Opened open_connections(int port, int count, std::string_view greeting, std::string_view label) {
    Opened result;
    for (int begun = 0; begun < count; begun += batch_size) {
        const int this_batch = std::min(batch_size, count - begun);
        std::vector<pollfd> pending;
        int connected = 0;
        for (int i = 0; i < this_batch; ++i) {
            const int fd = start_connect(port, held_source_address);
            if (fd < 0)
                ++result.failed;
            else
                pending.push_back({fd, POLLOUT, 0});
        }
        const auto deadline = Clock::now() + batch_timeout;
        while (!pending.empty()) {
            const int ready = ::poll(pending.data(), pending.size(), remaining_ms(deadline));
            if (ready < 0 && errno == EINTR) continue;
            if (ready <= 0) break; // timed out (or poll failed): the rest count as failed
            std::erase_if(pending, [&](const pollfd &p) {
                if (p.revents == 0) return false;
                if (connect_succeeded(p.fd) && (greeting.empty() || send_all_now(p.fd, greeting))) {
                    result.fds.push_back(p.fd);
                    ++connected;
                } else {
                    close_with_reset(p.fd);
                    ++result.failed;
                }
                return true;
            });
        }
        for (const pollfd &p : pending)
            close_with_reset(p.fd);
        result.failed += int(pending.size());
        const int not_begun = count - begun - this_batch;
        if (connected == 0 && not_begun > 0) {
            std::fprintf(stderr,
                         "c10k_loader: %.*s: no connection of a batch of %d connected; "
                         "not trying the last %d\n",
                         int(label.size()), label.data(), this_batch, not_begun);
            result.failed += not_begun;
            break;
        }
        std::this_thread::sleep_for(pause_between_batches);
    }
    return result;
}

// Closes and removes the connections the server has given up on: readable (EOF, or bytes the
// server should not have sent — nothing was asked), hung up or in error. Returns how many.
int drop_closed_by_server(std::vector<int> &fds) {
    std::vector<pollfd> polled;
    polled.reserve(fds.size());
    for (const int fd : fds)
        polled.push_back({fd, POLLIN | POLLRDHUP, 0});
    if (::poll(polled.data(), polled.size(), 0) < 0) return 0;
    std::vector<int> still_held;
    int dropped = 0;
    for (const pollfd &p : polled) {
        if (p.revents != 0) {
            close_with_reset(p.fd);
            ++dropped;
        } else {
            still_held.push_back(p.fd);
        }
    }
    fds = std::move(still_held);
    return dropped;
}

// --- phase 3: fresh requests --------------------------------------------------------------------

// Waits until fd is ready for `events` or the deadline passes.
bool wait_for(int fd, short events, Clock::time_point deadline) {
    for (;;) {
        pollfd p{fd, events, 0};
        const int ready = ::poll(&p, 1, remaining_ms(deadline));
        if (ready < 0 && errno == EINTR) continue;
        return ready > 0;
    }
}

std::optional<long> header_value(std::string_view head, std::string_view name) {
    for (std::size_t at = head.find("\r\n"); at != std::string_view::npos;
         at = head.find("\r\n", at + 2)) {
        const std::string_view line = head.substr(at + 2, head.find("\r\n", at + 2) - (at + 2));
        if (line.size() > name.size() && line[name.size()] == ':' &&
            std::equal(name.begin(), name.end(), line.begin(),
                       [](char a, char b) { return std::tolower(a) == std::tolower(b); }))
            return std::atol(std::string(line.substr(name.size() + 1)).c_str());
    }
    return std::nullopt;
}

enum class Response { incomplete, ok, not_ok };

// Whether `bytes` hold a whole response (by Content-Length, or up to EOF without one) and its
// status is 200.
Response complete_response(std::string_view bytes, bool at_eof) {
    const std::size_t head_end = bytes.find("\r\n\r\n");
    if (head_end == std::string_view::npos) return at_eof ? Response::not_ok : Response::incomplete;
    const std::string_view head = bytes.substr(0, head_end);
    const auto length = header_value(head, "Content-Length");
    const bool whole = length ? bytes.size() >= head_end + 4 + std::size_t(*length) : at_eof;
    if (!whole) return at_eof ? Response::not_ok : Response::incomplete;
    const bool ok = head.starts_with("HTTP/1.") && head.size() >= 12 &&
                    head.substr(8, 4) == " 200" &&
                    (head.size() == 12 || head[12] == ' ' || head[12] == '\r');
    return ok ? Response::ok : Response::not_ok;
}

// One request on a new connection: microseconds from connect to the full response, or nullopt
// if no complete 200 arrived in time.
std::optional<long> fresh_request(int port) {
    const auto start = Clock::now();
    const auto deadline = start + request_timeout;
    const int fd = start_connect(port);
    if (fd < 0) return std::nullopt;
    std::optional<long> latency;
    if (wait_for(fd, POLLOUT, deadline) && connect_succeeded(fd) &&
        send_all_now(fd, full_request)) {
        std::string received;
        char chunk[4096];
        while (wait_for(fd, POLLIN, deadline)) {
            const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
            if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
            if (n > 0) received.append(chunk, std::size_t(n));
            const Response r = complete_response(received, n <= 0);
            if (r == Response::ok)
                latency =
                    long(std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start)
                             .count());
            if (r != Response::incomplete) break;
        }
    }
    close_with_reset(fd);
    return latency;
}

// Nearest-rank percentile of sorted values.
long percentile(const std::vector<long> &sorted, double p) {
    const auto rank = std::size_t(std::ceil(p * double(sorted.size())));
    return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

void raise_fd_limit() {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &limit);
    }
}

std::string or_dash(std::optional<long> value) { return value ? std::to_string(*value) : "-"; }

struct Options {
    int port = 0, idle = 0, half = 0, fresh = 0;
    pid_t pid = 0;
};

std::optional<Options> parse(int argc, char **argv) {
    Options o;
    bool have_port = false;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string_view flag = argv[i];
        const int value = std::atoi(argv[i + 1]);
        if (value < 0) return std::nullopt;
        if (flag == "--port")
            o.port = value, have_port = true;
        else if (flag == "--idle")
            o.idle = value;
        else if (flag == "--half")
            o.half = value;
        else if (flag == "--fresh")
            o.fresh = value;
        else if (flag == "--pid")
            o.pid = value;
        else
            return std::nullopt;
    }
    if (argc % 2 == 0 || !have_port || o.port == 0 || o.port > 65535) return std::nullopt;
    return o;
}

} // namespace

int main(int argc, char **argv) {
    const auto options = parse(argc, argv);
    if (!options) {
        std::fprintf(
            stderr, "usage: c10k_loader --port P --idle N --half M --fresh K [--pid SERVER_PID]\n");
        return 2;
    }
    const Options &o = *options;
    ::signal(SIGPIPE, SIG_IGN); // a server may close a connection we write to
    raise_fd_limit();
    rlimit limit{};
    ::getrlimit(RLIMIT_NOFILE, &limit);
    if (rlim_t(o.idle) + rlim_t(o.half) + 16 > limit.rlim_cur)
        std::fprintf(
            stderr,
            "c10k_loader: %d connections need more than the fd limit %llu; the rest will fail\n",
            o.idle + o.half, static_cast<unsigned long long>(limit.rlim_cur));

    const auto before = o.pid ? server_footprint(o.pid) : std::nullopt;
    if (o.pid && !before) {
        std::fprintf(stderr, "c10k_loader: no process %d\n", o.pid);
        return 1;
    }

    Opened idle = open_connections(o.port, o.idle, "", "idle");
    Opened half = open_connections(o.port, o.half, half_request, "half");
    std::this_thread::sleep_for(settle_time);
    const int dropped = drop_closed_by_server(idle.fds) + drop_closed_by_server(half.fds);
    const long held = long(idle.fds.size() + half.fds.size());
    const auto after = o.pid ? server_footprint(o.pid) : std::nullopt;
    std::fprintf(
        stderr, "c10k_loader: holding %ld (idle %zu, half %zu), dropped %d, failed to connect %d\n",
        held, idle.fds.size(), half.fds.size(), dropped, idle.failed + half.failed);

    std::vector<long> latencies;
    int unanswered_in_a_row = 0;
    for (int i = 0; i < o.fresh; ++i) {
        if (const auto us = fresh_request(o.port)) {
            latencies.push_back(*us);
            unanswered_in_a_row = 0;
        } else if (++unanswered_in_a_row == give_up_after_unanswered && i + 1 < o.fresh) {
            std::fprintf(stderr,
                         "c10k_loader: %d fresh requests in a row unanswered; counting the last %d "
                         "as unanswered too\n",
                         give_up_after_unanswered, o.fresh - i - 1);
            break;
        }
    }
    std::sort(latencies.begin(), latencies.end());

    std::optional<long> p50, p99, per_conn;
    if (!latencies.empty()) p50 = percentile(latencies, 0.50), p99 = percentile(latencies, 0.99);
    if (before && after && held > 0) per_conn = (after->rss_kb - before->rss_kb) * 1024 / held;
    std::printf(
        "idle=%d half=%d held=%ld dropped=%d fresh=%d answered=%zu p50_us=%s p99_us=%s "
        "rss_before_kb=%s rss_after_kb=%s rss_per_conn_b=%s connect_failed=%d "
        "server_fds_added=%s\n",
        o.idle, o.half, held, dropped, o.fresh, latencies.size(), or_dash(p50).c_str(),
        or_dash(p99).c_str(),
        or_dash(before ? std::optional(before->rss_kb) : std::nullopt).c_str(),
        or_dash(after ? std::optional(after->rss_kb) : std::nullopt).c_str(),
        or_dash(per_conn).c_str(), idle.failed + half.failed,
        or_dash(before && after ? std::optional(after->fds - before->fds) : std::nullopt).c_str());
    std::fflush(stdout);

    for (const int fd : idle.fds)
        close_with_reset(fd);
    for (const int fd : half.fds)
        close_with_reset(fd);
    return 0;
}
