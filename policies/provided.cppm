// SPDX-License-Identifier: MIT
// ringbahn:policies.provided — read buffers the kernel picks from a ProvidedBuffers.
module;
#include <algorithm>
#include <cstdint>
#include <expected>
#include <memory>
#include <utility>
export module ringbahn:policies.provided;
import :buffers.buffer_policy;
import :buffers.provided_buffers;
import :drive.drive;
import :protocol.error;
import :events.buffer_select;
import :drive.poster;
import :buffers.ready;

namespace ringbahn::policies {

// Ring<TcpStream, Provided>: a read holds no buffer while it waits; the kernel takes one from
// the ring when data arrives (IOSQE_BUFFER_SELECT), so idle connections cost no buffer memory
// however many there are. Consumed buffers go back to the ring when the Ring drops its lease
// (consume() past the data) — or, for a cancelled read, after its CQE.
// No connection can starve the others by sitting on buffers (a slow peer, half a request):
//  * when all are lent out, a read does not wait for one: it waits (poll, no buffer held) until
//    data is there and reads it into heap bytes of buffer_size();
//  * while fewer than 1/8 of the buffers are free, a Ring that consumed part of a chunk copies
//    the rest to the heap and gives the buffer back at once.
// Writes use heap buffers (the kernel only picks for reads). The ProvidedBuffers belongs to one
// driver: use the policy with Rings on that driver.
export struct Provided {
    using Lease = ProvidedLease;
    static constexpr bool registered = false;
    static constexpr bool keep_leases = false;

    explicit Provided(std::shared_ptr<ProvidedBuffers> ring) noexcept : ring(std::move(ring)) {}

    [[nodiscard]] Ready<Result<Lease>> acquire(Poster) {
        return {ProvidedLease::heap(ring ? ring->buffer_size() : 4096)};
    }
    [[nodiscard]] events::ReadProvided read_event(int fd, std::uint64_t offset) const {
        return {fd, offset, ring};
    }
    // (A null ring: every read fails with EINVAL, from read_event's prepare.)
    [[nodiscard]] Lease fallback_lease() const {
        return ProvidedLease::heap(ring ? ring->buffer_size() : 4096);
    }
    [[nodiscard]] bool running_low() const noexcept {
        return ring && ring->available() < std::max<std::uint32_t>(1, ring->count() / 8);
    }

    std::shared_ptr<ProvidedBuffers> ring;
};
static_assert(KernelSelectsBuffers<Provided>);

} // namespace ringbahn::policies
