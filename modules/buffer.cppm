// SPDX-License-Identifier: MIT
// ringbahn:buffer — OwnedBuffer: storage an event can own and lend to the kernel.
module;
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <ranges>
#include <span>
#include <string>
#include <type_traits>
export module ringbahn:buffer;

namespace ringbahn {

// OwnedBuffer — contiguous bytes an event owns while the kernel reads or writes them.
// A model guarantees:
//  * data() points into storage the buffer owns on the heap (or in a pool), not into the
//    buffer object: moving the buffer — into the event, into a Cancellation, back to the
//    caller — leaves data() where it was, so the kernel's pointer stays valid.
//  * Moving is noexcept (it happens on cancellation paths).
// std::vector<std::byte> is the default. std::basic_string is excluded: its small-string
// buffer lives inside the object and moves with it.
export template <class B>
concept OwnedBuffer =
    std::is_nothrow_move_constructible_v<B> && std::ranges::contiguous_range<B> &&
    std::ranges::sized_range<B> && sizeof(std::ranges::range_value_t<B>) == 1 &&
    !std::same_as<B, std::basic_string<std::ranges::range_value_t<B>>>;

// FixedBuffer — an OwnedBuffer inside memory registered with the ring
// (io_uring_register_buffers): buffer_index() names the registered region, for READ_FIXED and
// WRITE_FIXED. A model guarantees the registration outlives every op that uses it.
export template <class B>
concept FixedBuffer = OwnedBuffer<B> && requires(const B& b) {
    { b.buffer_index() } noexcept -> std::same_as<std::uint16_t>;
};

// The bytes of a buffer, for preparing SQEs.
export template <OwnedBuffer B>
[[nodiscard]] inline std::span<std::byte> bytes_of(B& b) noexcept {
    return {reinterpret_cast<std::byte*>(std::ranges::data(b)), std::ranges::size(b)};
}

} // namespace ringbahn
