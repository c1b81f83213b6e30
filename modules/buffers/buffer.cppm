// SPDX-License-Identifier: MIT
// ringbahn:buffers.buffer — OwnedBuffer: storage an event can own and lend to the kernel.
module;
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <ranges>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <memory>
#include <vector>
export module ringbahn:buffers.buffer;

namespace ringbahn {

// Which buffer types own bytes that stay put when the buffer object moves. The kernel keeps the
// address it was given until the op's last CQE, and on cancellation the event (with its buffer)
// moves into a Cancellation: only a buffer whose bytes live outside the object, and belong to
// it, keeps that address valid. So the set is closed by default:
//  * std::vector of 1-byte elements with std::allocator: heap storage, relocated by no move
//    (not any allocator: a std::pmr::vector's bytes may live in a caller's arena, e.g. on a
//    coroutine frame that is gone before the CQE);
//  * a type that says so with `static constexpr bool owns_stable_bytes = true;` — the library's
//    leases (HeapBuffer, PoolLease, ProvidedLease), a user's own, and UnsafeBorrow below.
// Rejected on purpose: std::span and other views (the bytes are someone else's), std::array
// and other inline storage (the bytes move with the object), std::basic_string (its small
// buffer lives in the object).
template <class B>
inline constexpr bool owns_stable_bytes = requires {
    requires B::owns_stable_bytes == true;
};
template <class T>
inline constexpr bool owns_stable_bytes<std::vector<T, std::allocator<T>>> = sizeof(T) == 1;

// OwnedBuffer — contiguous bytes an event owns while the kernel reads or writes them.
// A model guarantees:
//  * data() points into storage the buffer owns on the heap (or in a pool), not into the
//    buffer object: moving the buffer — into the event, into a Cancellation, back to the
//    caller — leaves data() where it was, so the kernel's pointer stays valid;
//  * the storage lives as long as the buffer object (nobody else frees it);
//  * moving is noexcept (it happens on cancellation paths).
// The first two are not visible to the compiler, so a type opts in (owns_stable_bytes above).
export template <class B>
concept OwnedBuffer =
    std::is_nothrow_move_constructible_v<B> && std::ranges::contiguous_range<B> &&
    std::ranges::sized_range<B> && sizeof(std::ranges::range_value_t<B>) == 1 &&
    !std::ranges::borrowed_range<B> && owns_stable_bytes<std::remove_cvref_t<B>>;

// The visibly unsafe way to hand the kernel memory the event does not own. By calling it the
// caller promises: the bytes stay allocated, and are neither freed nor reused for anything
// else, until the op's *last CQE* — which, if the awaiter is destroyed (a lost when_any, a
// destroyed task), comes after the awaiter is gone, at the latest when the driver is torn
// down. In practice: memory that outlives the driver (a static arena, a mapping the program
// keeps), or an op that is always awaited to its end. Everything else is undefined behaviour:
// the kernel writes into whatever the memory has become.
export class UnsafeBorrow {
  public:
    static constexpr bool owns_stable_bytes = true; // the caller's promise, not the type's
    explicit UnsafeBorrow(std::span<std::byte> bytes) noexcept : bytes_(bytes) {}
    UnsafeBorrow(UnsafeBorrow&& o) noexcept : bytes_(std::exchange(o.bytes_, {})) {}
    UnsafeBorrow& operator=(UnsafeBorrow&& o) noexcept {
        bytes_ = std::exchange(o.bytes_, {});
        return *this;
    }
    UnsafeBorrow(const UnsafeBorrow&) = delete; // one op at a time borrows it
    UnsafeBorrow& operator=(const UnsafeBorrow&) = delete;

    [[nodiscard]] std::byte* data() const noexcept { return bytes_.data(); }
    [[nodiscard]] std::size_t size() const noexcept { return bytes_.size(); }
    [[nodiscard]] std::byte* begin() const noexcept { return bytes_.data(); }
    [[nodiscard]] std::byte* end() const noexcept { return bytes_.data() + bytes_.size(); }

  private:
    std::span<std::byte> bytes_;
};

// unsafe_borrow(span): see UnsafeBorrow for what the caller promises.
export [[nodiscard]] inline UnsafeBorrow unsafe_borrow(std::span<std::byte> bytes) noexcept {
    return UnsafeBorrow(bytes);
}

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
