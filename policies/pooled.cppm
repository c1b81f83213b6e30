// SPDX-License-Identifier: MIT
// ringbahn:policies.pooled — buffers leased per op from a pool shared by many Rings.
module;
#include <cerrno>
#include <memory>
#include <optional>
#include <expected>
#include <utility>
export module ringbahn:policies.pooled;
import :buffers.buffer_policy;
import :buffers.buffer_pool;
import :drive.drive;
import :drive.poster;
import :protocol.error;

namespace ringbahn::policies {

// Many connections, bounded memory: a Ring leases a buffer while it has data in it and gives
// it back once consumed, so an idle Ring holds none. When the pool is empty, acquiring waits
// or fails (the pool's WhenEmpty).
export struct Pooled {
    using Lease = PoolLease;
    static constexpr bool registered = false;
    static constexpr bool keep_leases = false;

    inline explicit Pooled(std::shared_ptr<BufferPool> pool) noexcept : pool(std::move(pool)) {}
    [[nodiscard]] inline BufferPool::Acquire acquire(Poster waker) {
        return pool ? pool->acquire(waker) : BufferPool::Acquire(nullptr, waker); // null: EINVAL
    }
    // A lease now into `slot`, or false (acquire() then waits or fails): the Ring's read takes
    // this path first, with no awaiter and no wake-up to arrange.
    [[nodiscard, gnu::always_inline]] inline bool lease_into(std::optional<Lease>& slot) {
        return pool && pool->lease_into(slot);
    }

    std::shared_ptr<BufferPool> pool;
};
static_assert(BufferPolicy<Pooled>);

} // namespace ringbahn::policies
