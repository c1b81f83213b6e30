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
class CString {
  public:
    inline explicit CString(std::string_view s) : chars_(std::make_unique<char[]>(s.size() + 1)) {
        s.copy(chars_.get(), s.size());
        chars_[s.size()] = '\0';
    }
    [[nodiscard]] inline const char* get() const noexcept { return chars_.get(); }

  private:
    std::unique_ptr<char[]> chars_;
};

} // namespace ringbahn::detail
