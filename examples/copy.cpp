// SPDX-License-Identifier: MIT
// ringbahn:example.copy — copies a file through two Rings and prints MB/s. The buffer policy is
// picked by a flag; each choice is its own instantiation of Ring<File, Policy, LocalDriver>.
// Run: ringbahn.example.copy [--heap|--pooled|--registered] SRC DST
#include <fcntl.h>

#include <chrono>
#include <coroutine>
#include <cstdio>
#include <cstring>
#include <expected>
#include <string_view>
#include <system_error>

import ringbahn;

using namespace ringbahn;
using Driver = drivers::LocalDriver;
constexpr std::size_t buffer_size = 128 * 1024;

template <class Policy>
Task<Result<std::uint64_t>> copy(Driver& d, const char* from, const char* to, Policy policy) {
    auto src = co_await io::File::open(d, from);
    if (!src) co_return std::unexpected(src.error());
    auto dst = co_await io::File::create(d, to);
    if (!dst) co_return std::unexpected(dst.error());
    Ring in(d, std::move(*src), policy);
    Ring out(d, std::move(*dst), policy);
    std::uint64_t total = 0;
    for (;;) {
        auto data = co_await in.fill_buf();
        if (!data) co_return std::unexpected(data.error());
        if (data->empty()) break;
        if (auto w = co_await out.write_all(*data); !w) co_return std::unexpected(w.error());
        total += data->size();
        in.consume(data->size());
    }
    if (auto c = co_await out.close(); !c) co_return std::unexpected(c.error());
    co_return total;
}

template <class Policy>
int run(Driver& d, std::string_view name, const char* from, const char* to, Policy policy) {
    const auto start = std::chrono::steady_clock::now();
    auto n = block_on(d, copy(d, from, to, std::move(policy)));
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    if (!n) {
        std::fprintf(stderr, "copy (%.*s): %s\n", int(name.size()), name.data(), n.error().message().c_str());
        return 1;
    }
    std::printf("copy %-10.*s %10llu bytes  %8.1f MB/s\n", int(name.size()), name.data(),
                static_cast<unsigned long long>(*n), double(*n) / 1e6 / took.count());
    return 0;
}

int main(int argc, char** argv) {
    if (argc != 4 || argv[1][0] != '-') {
        std::fprintf(stderr, "usage: %s --heap|--pooled|--registered SRC DST\n", argv[0]);
        return 2;
    }
    auto driver = Driver::create();
    if (!driver) {
        std::fprintf(stderr, "copy: io_uring unavailable: %s\n", driver.error().message().c_str());
        return 1;
    }
    Driver& d = **driver;
    const std::string_view mode = argv[1];
    if (mode == "--heap") return run(d, "heap", argv[2], argv[3], policies::Heap<buffer_size>{});
    if (mode == "--pooled") {
        auto pool = BufferPool::create(4, buffer_size, WhenEmpty::wait);
        if (!pool) return 1;
        return run(d, "pooled", argv[2], argv[3], policies::Pooled{*pool});
    }
    if (mode == "--registered") {
        auto policy = policies::Registered::create(d, 4, buffer_size, WhenEmpty::wait);
        if (!policy) {
            std::fprintf(stderr, "copy: registering buffers: %s\n", policy.error().message().c_str());
            return 1;
        }
        return run(d, "registered", argv[2], argv[3], *policy);
    }
    std::fprintf(stderr, "copy: unknown policy %s\n", argv[1]);
    return 2;
}
