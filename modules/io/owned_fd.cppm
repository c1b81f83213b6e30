// SPDX-License-Identifier: MIT
// ringbahn:io.owned_fd — OwnedFd and the IoObject concept: what a Ring can wrap.
module;
#include <unistd.h>
#include <concepts>
#include <expected>
#include <utility>
export module ringbahn:io.owned_fd;

namespace ringbahn::io {

// A file descriptor with one owner: closed (synchronously) when the owner goes, unless it
// was released or closed through the ring first. An op still in flight on it is unharmed:
// the kernel holds its own reference to the open file.
export class OwnedFd {
  public:
    OwnedFd() noexcept = default;
    inline explicit OwnedFd(int fd) noexcept : fd_(fd) {}
    inline OwnedFd(OwnedFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    inline OwnedFd& operator=(OwnedFd&& o) noexcept {
        if (this != &o) {
            reset();
            fd_ = std::exchange(o.fd_, -1);
        }
        return *this;
    }
    OwnedFd(const OwnedFd&) = delete;
    OwnedFd& operator=(const OwnedFd&) = delete;
    inline ~OwnedFd() { reset(); }

    [[nodiscard]] inline int native_handle() const noexcept { return fd_; }
    [[nodiscard]] inline bool is_open() const noexcept { return fd_ >= 0; }
    // Gives the fd up without closing it (e.g. to close it through the ring).
    [[nodiscard]] inline int release() noexcept { return std::exchange(fd_, -1); }
    inline void reset() noexcept {
        if (fd_ >= 0) ::close(std::exchange(fd_, -1));
    }

  private:
    int fd_ = -1;
};

// IoObject — anything that owns or lends a file descriptor to a Ring.
// A model guarantees: native_handle() stays the same fd while the Ring uses it; `seekable`
// says whether ops take an explicit offset (files) or use the current position (streams);
// release() gives up ownership without closing.
export template <class T>
concept IoObject = std::movable<T> && requires(T& t) {
    { std::as_const(t).native_handle() } noexcept -> std::same_as<int>;
    { t.release() } noexcept -> std::same_as<int>;
    { T::seekable } -> std::convertible_to<bool>;
};

} // namespace ringbahn::io
