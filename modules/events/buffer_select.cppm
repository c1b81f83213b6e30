// SPDX-License-Identifier: MIT
// ringbahn:events.buffer_select — ops whose buffer the kernel picks from a ProvidedBuffers when data
// arrives (IOSQE_BUFFER_SELECT): a one-shot read, and multishot recv.
module;
#include <liburing.h>
#include <cerrno>
#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <span>
export module ringbahn:events.buffer_select;
import :buffers.provided_buffers;
import :protocol.cancellation;
import :protocol.completion;
import :detail.sqe;
import :protocol.error;
import :protocol.event;

namespace ringbahn::events {

// Gives a buffer a CQE took back to its ring (the CQE of a cancelled op, or one nobody takes).
inline Cancellation reclaim_buffer(std::shared_ptr<ProvidedBuffers> ring) {
    return Cancellation{[ring = std::move(ring)](std::int32_t, std::uint32_t flags) noexcept {
        if ((flags & IORING_CQE_F_BUFFER) && ring)
            ring->reclaim(detail::CqeBufferKeyMaker::make(), flags >> IORING_CQE_BUFFER_SHIFT);
    }};
}

// A read (or recv: works on sockets too) into whichever buffer of `ring` the kernel picks once
// data is there. The value is the byte count; the bytes are in `lease` (none at end of file).
export struct ReadProvided {
    int fd;
    std::uint64_t offset;
    std::shared_ptr<ProvidedBuffers> ring;
    std::optional<ProvidedLease> lease{};

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey& key, std::span<::io_uring_sqe> sqes) noexcept {
        if (!ring || !ring->registered_with(key.driver())) [[unlikely]]
            return detail::prep_error(sqes[0], EINVAL); // no ring to pick from (on this driver)
        detail::prep_rw(sqes[0], IORING_OP_READ, fd, nullptr, ring->buffer_size(), offset);
        sqes[0].flags = IOSQE_BUFFER_SELECT;
        sqes[0].buf_group = ring->group();
    }
    [[nodiscard]] inline Result<std::uint32_t> finish(std::int32_t res, std::uint32_t flags) noexcept {
        if ((flags & IORING_CQE_F_BUFFER) && ring)
            lease.emplace(ring->lease(detail::CqeBufferKeyMaker::make(), flags >> IORING_CQE_BUFFER_SHIFT,
                                      res > 0 ? std::size_t(res) : 0));
        return cqe_result(res);
    }
    [[nodiscard]] inline Cancellation cancel() && noexcept { return reclaim_buffer(std::move(ring)); }
};
static_assert(Event<ReadProvided>);

// Multishot recv (6.0): one SQE, a CQE per chunk received, each in a buffer of `ring`. Use it
// through a MultishotStream (recv_stream()): item = the chunk's lease; an empty chunk is end of file.
// The kernel ends it with ENOBUFS when the ring runs dry; the stream waits for a buffer to come
// back and re-arms.
export struct RecvMultishot {
    using Item = ProvidedLease;
    int fd;
    std::shared_ptr<ProvidedBuffers> ring;

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey& key, std::span<::io_uring_sqe> sqes) noexcept {
        if (!ring || !ring->registered_with(key.driver())) [[unlikely]]
            return detail::prep_error(sqes[0], EINVAL); // no ring to pick from here: ends the stream
        detail::prep_rw(sqes[0], IORING_OP_RECV, fd, nullptr, 0, 0);
        sqes[0].ioprio = IORING_RECV_MULTISHOT;
        sqes[0].flags = IOSQE_BUFFER_SELECT;
        sqes[0].buf_group = ring->group();
    }
    [[nodiscard]] inline Result<Item> item(Cqe cqe) noexcept {
        if (!(cqe.flags & IORING_CQE_F_BUFFER) || !ring) return ProvidedLease::heap(0); // end of file
        return ring->lease(detail::CqeBufferKeyMaker::make(), cqe.flags >> IORING_CQE_BUFFER_SHIFT,
                           std::size_t(cqe.res));
    }
    [[nodiscard]] inline bool ends(Cqe cqe) const noexcept { return cqe.res == 0; }
    [[nodiscard]] inline ProvidedBuffers* refills() const noexcept { return ring.get(); }
    [[nodiscard]] inline Cancellation cancel() && noexcept { return reclaim_buffer(std::move(ring)); }
};
static_assert(Event<RecvMultishot>);

} // namespace ringbahn::events
