// SPDX-License-Identifier: MIT
// Reads this file back through an installed ringbahn and checks the bytes.
#include <fcntl.h>

#include <coroutine>
#include <cstdio>
#include <expected>
#include <cstring>
#include <vector>

import ringbahn;

using namespace ringbahn;

static Task<int> run(drivers::DemoDriver& d, const char* path) {
    auto fd = co_await d.submit(events::Openat{AT_FDCWD, path, O_RDONLY}); // an owned fd
    if (!fd) co_return 1;
    auto [r, n] = co_await d.submit(events::Read{fd->native_handle(), std::vector<std::byte>(64), 0});
    co_await d.submit(events::Close{fd->release()});
    if (!n || *n < 20 || std::memcmp(r.buf.data(), "// SPDX-License-Identifier", 20) != 0) co_return 2;
    std::printf("consumer: read %u bytes through the installed ringbahn\n", *n);
    co_return 0;
}

int main(int argc, char** argv) {
    auto driver = drivers::DemoDriver::create();
    if (!driver || argc < 2) return 3;
    return block_on(**driver, run(**driver, argv[1]));
}
