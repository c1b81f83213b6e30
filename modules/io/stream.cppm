// SPDX-License-Identifier: MIT
// ringbahn:io.stream — Stream, any non-seekable fd (pipe end, unix socket); pipe() and
// socket_pair() make them.
module;
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cerrno>
#include <expected>
#include <utility>
export module ringbahn:io.stream;
import :protocol.error;
import :io.owned_fd;

namespace ringbahn::io {

// Reads and writes use the current position (there is no other).
export class Stream {
  public:
    static constexpr bool seekable = false;
    explicit Stream(OwnedFd fd) noexcept : fd_(std::move(fd)) {}
    [[nodiscard]] inline int native_handle() const noexcept { return fd_.native_handle(); }
    [[nodiscard]] int release() noexcept { return fd_.release(); }

  private:
    OwnedFd fd_;
};
static_assert(IoObject<Stream>);

export struct StreamPair {
    Stream first;  // for pipe(): the read end
    Stream second; // for pipe(): the write end
};

export [[nodiscard]] inline Result<StreamPair> pipe() {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) return std::unexpected(errno_code(errno));
    return StreamPair{Stream(OwnedFd(p[0])), Stream(OwnedFd(p[1]))};
}

export [[nodiscard]] inline Result<StreamPair> socket_pair() {
    int s[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s) != 0)
        return std::unexpected(errno_code(errno));
    return StreamPair{Stream(OwnedFd(s[0])), Stream(OwnedFd(s[1]))};
}

} // namespace ringbahn::io
