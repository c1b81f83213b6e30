// SPDX-License-Identifier: MIT
// Raw liburing baselines (raw.cpp) and what they share with the ringbahn side.
#pragma once
#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include <sys/stat.h>

namespace bench {

constexpr unsigned ring_entries = 256;
constexpr int echo_connections = 32;
constexpr std::size_t echo_buffer = 8192;

constexpr std::size_t block = 4096;

struct ReadFile {
    int fd = -1;
    std::uint64_t blocks = 0;
    std::vector<std::uint64_t> offsets; // precomputed: the same sequence for every contender
};

inline ReadFile make_read_file(const char* path, std::uint64_t bytes, std::size_t count) {
    ReadFile f;
    f.fd = ::open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    struct stat st{};
    ::fstat(f.fd, &st);
    if (std::uint64_t(st.st_size) < bytes) {
        std::vector<char> chunk(1 << 20, 'x');
        for (std::uint64_t off = 0; off < bytes; off += chunk.size())
            if (::pwrite(f.fd, chunk.data(), chunk.size(), off_t(off)) < 0) std::exit(1);
    }
    f.blocks = bytes / block;
    // Read it all once so every block is in the page cache.
    std::vector<char> chunk(1 << 20);
    for (std::uint64_t off = 0; off < bytes; off += chunk.size())
        if (::pread(f.fd, chunk.data(), chunk.size(), off_t(off)) < 0) std::exit(1);
    std::uint64_t x = 88172645463325252ull;
    f.offsets.resize(count);
    for (auto& o : f.offsets) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        o = (x % f.blocks) * block;
    }
    return f;
}


double raw_nop(unsigned qd, long ops);
double raw_read(const ReadFile& f, unsigned qd, bool registered);
void raw_echo_server(int listen_fd, int connections);

} // namespace bench
