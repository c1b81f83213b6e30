// SPDX-License-Identifier: MIT
// ringbahn:io.file — File, a seekable file opened through the ring (or adopted).
module;
#include <fcntl.h>
#include <sys/types.h>
#include <string_view>
#include <expected>
#include <utility>
export module ringbahn:io.file;
import :drive.drive;
import :protocol.error;
import :events.openat;
import :io.owned_fd;
import :await.submission;
import :tasks.task;

namespace ringbahn::io {

// Reads and writes take explicit offsets; a Ring over a File tracks its position.
export class File {
  public:
    static constexpr bool seekable = true;

    // Adopts an fd the caller opened.
    explicit File(OwnedFd fd) noexcept : fd_(std::move(fd)) {}

    // openat(2) through the ring; O_CLOEXEC is added.
    template <Drive D>
    static Task<Result<File>> open(D& driver, std::string_view path, int flags = O_RDONLY,
                                   ::mode_t mode = 0) {
        auto fd = co_await submit(driver, events::Openat{AT_FDCWD, path, flags, mode});
        if (!fd) co_return std::unexpected(fd.error());
        co_return File(std::move(*fd));
    }
    template <Drive D>
    static Task<Result<File>> create(D& driver, std::string_view path, ::mode_t mode = 0644) {
        return open(driver, path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    }

    [[nodiscard]] inline int native_handle() const noexcept { return fd_.native_handle(); }
    [[nodiscard]] int release() noexcept { return fd_.release(); }

  private:
    OwnedFd fd_;
};
static_assert(IoObject<File>);

} // namespace ringbahn::io
