// SPDX-License-Identifier: MIT
// Benchmark harness: interleaved rounds of raw liburing and ringbahn, medians and ratios.
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

namespace bench {

inline double now_seconds() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

inline double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n == 0 ? 0 : (n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2);
}

// A TCP listener on 127.0.0.1 with a kernel-chosen port; `addr` gets that address. The bench
// exits with `exit_code` if the machine cannot give it one.
inline int loopback_listener(sockaddr_in& addr, int backlog, int exit_code) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    addr = sockaddr_in{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd < 0 || ::bind(fd, (sockaddr*)&addr, len) != 0 || ::listen(fd, backlog) != 0 ||
        ::getsockname(fd, (sockaddr*)&addr, &len) != 0)
        std::exit(exit_code);
    return fd;
}

inline void pin_to(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set); // best effort: a 1-core box just runs unpinned
}

// One row of the results table: A (raw liburing) against B (ringbahn), `rounds` times each,
// alternating A B A B so drift hits both; the ratio is the median of per-pair ratios.
struct Row {
    std::string name;
    std::string unit;       // what a sample measures, e.g. "ops/s"
    bool higher_is_better;  // ops/s: yes; CPU µs per round trip: no
    double raw = 0, ours = 0, ratio = 0; // ratio is always ringbahn relative to raw: ≥ 1 is better
};

inline Row compare(const std::string& name, const std::string& unit, bool higher_is_better,
                   int rounds, const std::function<double()>& raw,
                   const std::function<double()>& ours) {
    std::vector<double> a, b, r;
    raw(); // warm-up for both, not counted
    ours();
    for (int i = 0; i < rounds; ++i) {
        a.push_back(raw());
        b.push_back(ours());
        r.push_back(higher_is_better ? b.back() / a.back() : a.back() / b.back());
    }
    Row row{name, unit, higher_is_better, median(a), median(b), median(r)};
    std::printf("%-44s raw %12.1f  ringbahn %12.1f %-10s ratio %.3f\n", name.c_str(), row.raw,
                row.ours, unit.c_str(), row.ratio);
    std::fflush(stdout);
    return row;
}

} // namespace bench
