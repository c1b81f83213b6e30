// SPDX-License-Identifier: MIT
// Bytes for tests: from and to text, seeded random streams and patterns, FNV-1a checksums, and
// threads that feed an fd.
module;
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

export module ringbahn.test_support:bytes;

import :fds;

export namespace test {

// A checksum for comparing large transfers (FNV-1a, 64-bit), fed piece by piece: a stream of
// chunks sums the same as the whole buffer.
struct Fnv1a {
    std::uint64_t sum = 1469598103934665603ull;
    std::size_t bytes = 0;
    void add(std::span<const std::byte> data) {
        for (auto b : data) sum = (sum ^ std::uint64_t(b)) * 1099511628211ull;
        bytes += data.size();
    }
};
inline std::uint64_t fnv1a(std::span<const std::byte> data) {
    Fnv1a h;
    h.add(data);
    return h.sum;
}

// n bytes from a seeded generator: the same seed, the same bytes.
inline std::vector<std::byte> random_bytes(std::size_t n, std::uint64_t seed) {
    std::vector<std::byte> v(n);
    std::mt19937_64 rng(seed);
    for (auto& b : v) b = std::byte(rng());
    return v;
}

// n bytes from a seeded generator, eight bytes a draw (random_bytes takes one a draw: the same
// seed gives other bytes). What the Ring round trips stream.
inline std::vector<std::byte> pattern(std::size_t n, std::uint64_t seed) {
    std::vector<std::byte> v(n);
    std::mt19937_64 rng(seed);
    for (std::size_t i = 0; i < n; i += 8) {
        const std::uint64_t x = rng();
        std::memcpy(v.data() + i, &x, std::min<std::size_t>(8, n - i));
    }
    return v;
}

// Blocking writes of all of data to fd, `chunk` bytes a call; stops early if a write fails.
inline void write_chunked(int fd, std::span<const std::byte> data, std::size_t chunk) {
    std::size_t sent = 0;
    while (sent < data.size()) {
        const ssize_t n = ::write(fd, data.data() + sent, std::min(chunk, data.size() - sent));
        if (n <= 0) break;
        sent += std::size_t(n);
    }
}

// A thread that writes all of data to fd in `chunk`-byte writes, then shuts the write side
// down (the reader sees end of file). Joined when the returned jthread goes.
inline std::jthread write_then_shutdown(int fd, std::span<const std::byte> data, std::size_t chunk) {
    return std::jthread([fd, data, chunk] {
        write_chunked(fd, data, chunk);
        ::shutdown(fd, SHUT_WR);
    });
}

// The same for a pipe's write end, which the thread owns and closes when done (end of file).
inline std::jthread write_then_close(Fd fd, std::span<const std::byte> data, std::size_t chunk) {
    return std::jthread([owned = std::move(fd), data, chunk]() mutable {
        const Fd closed_at_exit = std::move(owned);
        write_chunked(closed_at_exit.get(), data, chunk);
    });
}

inline std::vector<std::byte> bytes(std::string_view s) {
    std::vector<std::byte> v(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) v[i] = static_cast<std::byte>(s[i]);
    return v;
}
inline std::string text(const std::vector<std::byte>& v, std::size_t n) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>(v[i]);
    return s;
}
// All of a span of bytes (a Ring's fill_buf view, a read_until line) as text.
inline std::string text(std::span<const std::byte> s) {
    return {reinterpret_cast<const char*>(s.data()), s.size()};
}

} // namespace test
