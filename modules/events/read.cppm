// SPDX-License-Identifier: MIT
// ringbahn:events.read — IORING_OP_READ and IORING_OP_READ_FIXED: reads into an owned buffer at an offset.
module;
#include <liburing.h>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>
export module ringbahn:events.read;
import :buffers.buffer;
import :protocol.cancellation;
import :detail.sqe;
import :protocol.event;

namespace ringbahn::events {

// The op's value is the byte count (0 at end of file). It covers at most `len` bytes of buf (all of it
// by default). offset = current_offset uses and moves the file position (pipes and sockets
// have no other). buf comes back with the result; if the awaiter goes away, it stays allocated
// until the CQE.
export template <OwnedBuffer B = std::vector<std::byte>>
struct Read {
    int fd;
    B buf;
    std::uint64_t offset = current_offset;
    std::size_t len = ~std::size_t{0};

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        auto bytes = bytes_of(buf).first(len < bytes_of(buf).size() ? len : bytes_of(buf).size());
        detail::prep_rw(sqes[0], IORING_OP_READ, fd, bytes.data(),
                        detail::clamp_rw(bytes.size()), offset);
    }
    [[nodiscard]] inline Cancellation cancel() && noexcept { return hold_until_cqe(std::move(buf)); }
};
static_assert(Event<Read<>>);

// The same through a registered buffer: the kernel skips pinning the pages for every op.
export template <FixedBuffer B>
struct ReadFixed {
    int fd;
    B buf;
    std::uint64_t offset = current_offset;
    std::size_t len = ~std::size_t{0};

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        auto bytes = bytes_of(buf).first(len < bytes_of(buf).size() ? len : bytes_of(buf).size());
        detail::prep_rw(sqes[0], IORING_OP_READ_FIXED, fd, bytes.data(),
                        detail::clamp_rw(bytes.size()), offset);
        sqes[0].buf_index = buf.buffer_index();
    }
    [[nodiscard]] inline Cancellation cancel() && noexcept { return hold_until_cqe(std::move(buf)); }
};

} // namespace ringbahn::events
