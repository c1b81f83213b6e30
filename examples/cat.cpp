// SPDX-License-Identifier: MIT
// ringbahn:example.cat — prints files through the demo driver: openat, read, write, close.
// Each buffer moves into the read and comes back with its result; stdout is written through
// the ring too. Run: build/dev/examples/ringbahn.example.cat FILE...
#include <fcntl.h>
#include <unistd.h>

#include <coroutine>
#include <cstdio>
#include <expected>
#include <system_error>
#include <vector>

import ringbahn;

using namespace ringbahn;
using Driver = drivers::DemoDriver;

// Writes all of buf to fd, looping over short writes.
static Task<Result<void>> write_all(Driver& d, int fd, std::vector<std::byte> buf, std::size_t len) {
    std::size_t done = 0;
    while (done < len) {
        std::vector<std::byte> rest(buf.begin() + long(done), buf.begin() + long(len));
        auto [w, n] = co_await submit(d, events::Write<>{fd, std::move(rest)});
        if (!n) co_return std::unexpected(n.error());
        done += *n;
    }
    co_return Result<void>{};
}

static Task<Result<void>> cat(Driver& d, const char* path) {
    auto [open, fd] = co_await submit(d, events::Openat{AT_FDCWD, path, O_RDONLY});
    if (!fd) co_return std::unexpected(fd.error());
    const int file = static_cast<int>(*fd);
    std::vector<std::byte> buf(64 * 1024);
    std::uint64_t offset = 0;
    Result<void> status{};
    for (;;) {
        auto [read, n] = co_await submit(d, events::Read<>{file, std::move(buf), offset});
        buf = std::move(read.buf); // the same buffer, back from the kernel
        if (!n) { status = std::unexpected(n.error()); break; }
        if (*n == 0) break; // end of file
        offset += *n;
        if (auto w = co_await write_all(d, STDOUT_FILENO, buf, *n); !w) { status = w; break; }
    }
    co_await submit(d, events::Close{file});
    co_return status;
}

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s FILE...\n", argv[0]);
        return 2;
    }
    auto driver = Driver::create();
    if (!driver) {
        std::fprintf(stderr, "cat: io_uring unavailable: %s\n", driver.error().message().c_str());
        return 1;
    }
    int rc = 0;
    for (int i = 1; i < argc; ++i) {
        if (auto r = block_on(**driver, cat(**driver, argv[i])); !r) {
            std::fprintf(stderr, "cat: %s: %s\n", argv[i], r.error().message().c_str());
            rc = 1;
        }
    }
    return rc;
}
