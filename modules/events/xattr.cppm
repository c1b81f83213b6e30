// SPDX-License-Identifier: MIT
// ringbahn:events.xattr — extended attributes: getxattr, setxattr and their fd forms.
module;
#include <liburing.h>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <utility>
#include <vector>
export module ringbahn:events.xattr;
import :buffers.buffer;
import :protocol.cancellation;
import :detail.c_string;
import :detail.sqe;
import :protocol.event;

namespace ringbahn::events {

// Getxattr/Fgetxattr: the value lands in buf; the op's value is its length (ERANGE if buf is
// too small, ENODATA if there is no such attribute). Setxattr/Fsetxattr: flags XATTR_CREATE or
// XATTR_REPLACE; the value is 0. Names and paths are copied to the heap.

export template <OwnedBuffer B = std::vector<std::byte>>
struct Fgetxattr {
    Fgetxattr(int fd, std::string_view name, B buf) : fd(fd), name(name), buf(std::move(buf)) {}
    int fd;
    detail::CString name;
    B buf;

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        auto bytes = bytes_of(buf);
        detail::prep_rw(sqes[0], IORING_OP_FGETXATTR, fd, name.get(),
                        detail::clamp_u32(bytes.size()), reinterpret_cast<std::uintptr_t>(bytes.data()));
    }
    [[nodiscard]] inline Cancellation cancel() && noexcept {
        return hold_until_cqe(std::move(name), std::move(buf));
    }
};
static_assert(Event<Fgetxattr<>>);

export template <OwnedBuffer B = std::vector<std::byte>>
struct Getxattr {
    Getxattr(std::string_view path, std::string_view name, B buf)
        : path(path), name(name), buf(std::move(buf)) {}
    detail::CString path, name;
    B buf;

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        auto bytes = bytes_of(buf);
        detail::prep_rw(sqes[0], IORING_OP_GETXATTR, 0, name.get(),
                        detail::clamp_u32(bytes.size()), reinterpret_cast<std::uintptr_t>(bytes.data()));
        sqes[0].addr3 = reinterpret_cast<std::uintptr_t>(path.get());
    }
    [[nodiscard]] inline Cancellation cancel() && noexcept {
        return hold_until_cqe(std::move(path), std::move(name), std::move(buf));
    }
};
static_assert(Event<Getxattr<>>);

export template <OwnedBuffer B = std::vector<std::byte>>
struct Fsetxattr {
    Fsetxattr(int fd, std::string_view name, B value, int flags = 0)
        : fd(fd), flags(flags), name(name), value(std::move(value)) {}
    int fd;
    int flags;
    detail::CString name;
    B value;

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        auto bytes = bytes_of(value);
        detail::prep_rw(sqes[0], IORING_OP_FSETXATTR, fd, name.get(),
                        detail::clamp_u32(bytes.size()), reinterpret_cast<std::uintptr_t>(bytes.data()));
        sqes[0].xattr_flags = static_cast<std::uint32_t>(flags);
    }
    [[nodiscard]] inline Cancellation cancel() && noexcept {
        return hold_until_cqe(std::move(name), std::move(value));
    }
};
static_assert(Event<Fsetxattr<>>);

export template <OwnedBuffer B = std::vector<std::byte>>
struct Setxattr {
    Setxattr(std::string_view path, std::string_view name, B value, int flags = 0)
        : flags(flags), path(path), name(name), value(std::move(value)) {}
    int flags;
    detail::CString path, name;
    B value;

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        auto bytes = bytes_of(value);
        detail::prep_rw(sqes[0], IORING_OP_SETXATTR, 0, name.get(),
                        detail::clamp_u32(bytes.size()), reinterpret_cast<std::uintptr_t>(bytes.data()));
        sqes[0].addr3 = reinterpret_cast<std::uintptr_t>(path.get());
        sqes[0].xattr_flags = static_cast<std::uint32_t>(flags);
    }
    [[nodiscard]] inline Cancellation cancel() && noexcept {
        return hold_until_cqe(std::move(path), std::move(name), std::move(value));
    }
};
static_assert(Event<Setxattr<>>);

} // namespace ringbahn::events
