// SPDX-License-Identifier: MIT
// ringbahn:drive.poster — a driver's post/unpost behind a type-erased handle.
module;
#include <coroutine>
#include <cstdint>
export module ringbahn:drive.poster;
import :drive.drive;
import :drive.liveness;

namespace ringbahn {

// A driver's post/unpost, type-erased: what a buffer policy needs to wake a waiter on the
// waiter's own driver without knowing its type.
export class Poster {
  public:
    template <Drive D>
    explicit Poster(D& d) noexcept
        : driver_(&d), id_(d.liveness().id()),
          post_([](void* x, std::coroutine_handle<> h) noexcept { static_cast<D*>(x)->post(h); }),
          unpost_([](void* x, std::coroutine_handle<> h) noexcept {
              return static_cast<D*>(x)->unpost(h);
          }) {}
    // Both are no-ops once the driver is gone: a waiter of a dead driver is never resumed.
    inline void post(std::coroutine_handle<> h) const noexcept {
        Liveness::if_alive(id_, [&]() noexcept { post_(driver_, h); });
    }
    inline bool unpost(std::coroutine_handle<> h) const noexcept {
        bool found = false;
        Liveness::if_alive(id_, [&]() noexcept { found = unpost_(driver_, h); });
        return found;
    }

  private:
    void* driver_;
    std::uint64_t id_;
    void (*post_)(void*, std::coroutine_handle<>) noexcept;
    bool (*unpost_)(void*, std::coroutine_handle<>) noexcept;
};

} // namespace ringbahn
