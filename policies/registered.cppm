// SPDX-License-Identifier: MIT
// ringbahn:policies.registered — pooled buffers registered with the driver's ring (*_FIXED ops).
module;
#include <sys/uio.h>
#include <cstddef>
#include <expected>
#include <cstdint>
#include <cerrno>
#include <memory>
#include <optional>
#include <span>
#include <utility>
#include <vector>
export module ringbahn:policies.registered;
import :buffers.buffer_policy;
import :buffers.buffer_pool;
import :policies.pooled;
import :drive.drive;
import :protocol.error;
import :drive.poster;

namespace ringbahn::policies {

// A driver that can register buffers with its ring. It keeps `owner` alive until the ring is
// closed, so registered memory outlives every fixed op (DESIGN.md §4).
export template <class D>
concept RegistersBuffers = requires(D& d, std::span<const ::iovec> iov, std::shared_ptr<void> owner) {
    { d.register_buffers(iov, std::move(owner)) } -> std::same_as<Result<void>>;
};

// Pooled (its acquire and lease_into), but the pool's slab is registered with the driver's ring: reads and writes use
// READ_FIXED / WRITE_FIXED and the kernel skips pinning pages per op. Registration is checked
// here, at construction (RLIMIT_MEMLOCK, or a ring that already has buffers: EBUSY).
// Use the Ring with the driver the pool was registered with.
export struct Registered : Pooled {
    static constexpr bool registered = true;

    template <RegistersBuffers D>
    [[nodiscard]] static Result<Registered> create(D& driver, std::uint16_t count,
                                                   std::size_t size, WhenEmpty when_empty) {
        auto pool = BufferPool::create(count, size, when_empty);
        if (!pool) return std::unexpected(pool.error());
        const std::vector<::iovec> iov = (*pool)->iovecs();
        if (auto r = driver.register_buffers(iov, *pool); !r) return std::unexpected(r.error());
        return Registered(std::move(*pool));
    }

  private:
    explicit Registered(std::shared_ptr<BufferPool> p) noexcept : Pooled(std::move(p)) {}
};
static_assert(BufferPolicy<Registered>);

} // namespace ringbahn::policies
