// SPDX-License-Identifier: MIT
// ringbahn:policies.heap — one owned heap buffer per Ring (the seed's behaviour).
module;
#include <cstddef>
#include <expected>
#include <memory>
#include <utility>
export module ringbahn:policies.heap;
import :buffers.buffer_policy;
import :drive.drive;
import :protocol.error;
import :drive.poster;
import :buffers.ready;

namespace ringbahn::policies {

// A heap buffer of `Size` bytes, owned by whoever holds it; freed when the last owner — the
// Ring, or a Cancellation after the CQE — lets go.
export template <std::size_t Size>
class HeapBuffer {
    static_assert(Size > 0, "a read into 0 bytes returns 0: it would look like end of file");

  public:
    static constexpr bool owns_stable_bytes = true; // OwnedBuffer: the bytes are on the heap
    HeapBuffer() : data_(std::make_unique_for_overwrite<std::byte[]>(Size)) {}
    HeapBuffer(HeapBuffer&&) noexcept = default;
    HeapBuffer& operator=(HeapBuffer&&) noexcept = default;

    [[nodiscard]] std::byte* data() noexcept { return data_.get(); }
    [[nodiscard]] const std::byte* data() const noexcept { return data_.get(); }
    [[nodiscard]] static constexpr std::size_t size() noexcept { return Size; }
    [[nodiscard]] std::byte* begin() noexcept { return data_.get(); }
    [[nodiscard]] std::byte* end() noexcept { return data_.get() + Size; }
    [[nodiscard]] const std::byte* begin() const noexcept { return data_.get(); }
    [[nodiscard]] const std::byte* end() const noexcept { return data_.get() + Size; }

  private:
    std::unique_ptr<std::byte[]> data_;
};

// Allocation per Ring, never a wait or a shared structure: the simplest choice, and a good one
// for few long-lived Rings. A Ring keeps its buffer between ops.
export template <std::size_t Size = 64 * 1024>
struct Heap {
    using Lease = HeapBuffer<Size>;
    static constexpr bool registered = false;
    static constexpr bool keep_leases = true;
    [[nodiscard]] Ready<Result<Lease>> acquire(Poster) { return {Lease{}}; }
};
static_assert(BufferPolicy<Heap<>>);

} // namespace ringbahn::policies
