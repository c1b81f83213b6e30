// SPDX-License-Identifier: MIT
// ringbahn:detail.slot — an optional whose every step is inlined, for the op path.
module;
#include <new>
#include <type_traits>
#include <utility>
export module ringbahn:detail.slot;

namespace ringbahn::detail {

// std::optional's steps are ordinary functions, and in a large coroutine the inliner gives up
// on them: an op paid calls to build and destroy its event. Slot does what the op path needs
// of an optional (hold one T or none), each step forced inline.
export template <class T>
class Slot {
  public:
    [[gnu::always_inline]] inline Slot() noexcept {}
    template <class... Args>
    [[gnu::always_inline]] inline explicit Slot(std::in_place_t, Args&&... args)
        : live_(true) {
        ::new (static_cast<void*>(&value_)) T(std::forward<Args>(args)...);
    }
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    [[gnu::always_inline]] inline ~Slot() { reset(); }

    template <class... Args>
    [[gnu::always_inline]] inline void emplace(Args&&... args) {
        reset();
        ::new (static_cast<void*>(&value_)) T(std::forward<Args>(args)...);
        live_ = true;
    }
    [[gnu::always_inline]] inline void reset() noexcept {
        if (live_) {
            live_ = false;
            value_.~T();
        }
    }
    [[nodiscard, gnu::always_inline]] inline explicit operator bool() const noexcept { return live_; }
    [[nodiscard, gnu::always_inline]] inline T& operator*() noexcept { return value_; }
    [[nodiscard, gnu::always_inline]] inline T* operator->() noexcept { return &value_; }
    [[nodiscard, gnu::always_inline]] inline const T* operator->() const noexcept { return &value_; }

  private:
    union {
        T value_;
    };
    bool live_ = false;
};

} // namespace ringbahn::detail
