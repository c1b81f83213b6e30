#include <fcntl.h>
#include <coroutine> // no `import std;` yet: the std headers a coroutine needs
#include <cstdint>
#include <cstdio>
#include <expected>
#include <vector>
import ringbahn;
using namespace ringbahn;

Task<Result<std::uint32_t>> first_bytes(drivers::DemoDriver& d, const char* path) {
    auto fd = co_await d.submit(events::Openat{AT_FDCWD, path, O_RDONLY}); // Result<io::OwnedFd>
    if (!fd) co_return std::unexpected(fd.error());
    // The buffer moves into the event and comes back with the result.
    auto [read, n] = co_await d.submit(events::Read{fd->native_handle(), std::vector<std::byte>(4096), 0});
    if (n) std::fwrite(read.buf.data(), 1, *n, stdout);
    co_return n;
} // the fd closes here

int main(int argc, char** argv) {
    auto d = drivers::DemoDriver::create().value();
    auto n = block_on(*d, first_bytes(*d, argc > 1 ? argv[1] : "/etc/hostname"));
    std::printf("-- %s\n", n ? "read" : n.error().message().c_str());
    return n ? 0 : 1;
}
