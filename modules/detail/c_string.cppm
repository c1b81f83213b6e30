// SPDX-License-Identifier: MIT
// ringbahn:detail.c_string — a path or name copied to the heap for the kernel to read.
module;
#include <cstddef>
#include <memory>
#include <string_view>
export module ringbahn:detail.c_string;

namespace ringbahn::detail {

// The kernel may read a path after the caller's string is gone (the op is queued, or the
// awaiter was destroyed): events copy it here, and the copy moves with the event's storage.
// A string with a NUL inside would be cut there, and the op would act on a shorter path — a
// different file. So it is never passed on: the copy becomes a name longer than any path or
// name may be, which the kernel refuses (ENAMETOOLONG for paths, ERANGE for xattr names).
class CString {
  public:
    static constexpr std::size_t refused_length = 4097; // PATH_MAX + 1

    inline explicit CString(std::string_view s) {
        if (s.find('\0') != std::string_view::npos) {
            chars_ = std::make_unique<char[]>(refused_length + 1);
            for (std::size_t i = 0; i < refused_length; ++i) chars_[i] = 'x';
            chars_[refused_length] = '\0';
            return;
        }
        chars_ = std::make_unique<char[]>(s.size() + 1);
        s.copy(chars_.get(), s.size());
        chars_[s.size()] = '\0';
    }
    [[nodiscard]] inline const char* get() const noexcept { return chars_.get(); }
    // The heap copy itself, for events that keep it as a unique_ptr.
    [[nodiscard]] inline std::unique_ptr<char[]> release() noexcept { return std::move(chars_); }

  private:
    std::unique_ptr<char[]> chars_;
};

} // namespace ringbahn::detail
