// SPDX-License-Identifier: MIT
// ringbahn:example.cat — prints files to stdout through io_uring: Ring<File> reads, with the
// file opened through the ring, and Ring<Stream> over stdout writes.
// Run: build/dev/examples/ringbahn.example.cat FILE...
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

static Task<Result<void>> cat(Driver& d, const char* path, Ring<io::Stream, policies::Heap<>, Driver>& out) {
    auto file = co_await io::File::open(d, path);
    if (!file) co_return std::unexpected(file.error());
    Ring in(d, std::move(*file)); // a 64 KiB heap buffer (policies::Heap<>)
    for (;;) {
        auto data = co_await in.fill_buf(); // read straight into the Ring's buffer...
        if (!data) co_return std::unexpected(data.error());
        if (data->empty()) break; // end of file
        if (auto w = co_await out.write_all(*data); !w) co_return w; // ...and write it out
        in.consume(data->size());
    }
    co_return co_await in.close();
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
    Ring out(**driver, io::Stream(io::OwnedFd(::dup(STDOUT_FILENO))));
    int rc = 0;
    for (int i = 1; i < argc; ++i) {
        if (auto r = block_on(**driver, cat(**driver, argv[i], out)); !r) {
            std::fprintf(stderr, "cat: %s: %s\n", argv[i], r.error().message().c_str());
            rc = 1;
        }
    }
    return rc;
}
