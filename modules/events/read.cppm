// SPDX-License-Identifier: MIT
// ringbahn:events.read — IORING_OP_READ: reads into an owned buffer at an offset.
module;
#include <liburing.h>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>
export module ringbahn:events.read;
import :buffer;
import :cancellation;
import :detail.sqe;
import :event;

namespace ringbahn::events {

// The op's value is the byte count (0 at end of file). offset = current_offset uses
// and moves the file position (pipes and sockets have no other). buf comes back with the
// result; if the awaiter goes away, it stays allocated until the CQE.
export template <OwnedBuffer B = std::vector<std::byte>>
struct Read {
    int fd;
    B buf;
    std::uint64_t offset = current_offset;

    [[nodiscard]] std::uint32_t sqes_needed() const noexcept { return 1; }
    void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        auto bytes = bytes_of(buf);
        detail::prep_rw(sqes[0], IORING_OP_READ, fd, bytes.data(),
                        static_cast<std::uint32_t>(bytes.size()), offset);
    }
    [[nodiscard]] Cancellation cancel() && noexcept { return hold_until_cqe(std::move(buf)); }
};
static_assert(Event<Read<>>);

} // namespace ringbahn::events
