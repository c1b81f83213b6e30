// SPDX-License-Identifier: MIT
// ringbahn:buffers.ready — an awaitable that is ready at once (policies that never wait return one).
module;
#include <type_traits>
#include <utility>
export module ringbahn:buffers.ready;

namespace ringbahn {

// An awaitable that is ready at once, for policies that never wait.
export template <class T>
struct Ready {
    T value;
    bool await_ready() const noexcept { return true; }
    void await_suspend(auto) const noexcept {}
    T await_resume() noexcept(std::is_nothrow_move_constructible_v<T>) { return std::move(value); }
};

} // namespace ringbahn
