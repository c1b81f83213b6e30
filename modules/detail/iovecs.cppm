// SPDX-License-Identifier: MIT
// ringbahn:detail.iovecs — a heap iovec array over owned buffers, for vectored ops.
module;
#include <sys/uio.h>
#include <cstdint>
#include <memory>
#include <vector>
export module ringbahn:detail.iovecs;
import :buffers.buffer;
import :detail.sqe;

namespace ringbahn::detail {

// Built when the event is made (it may allocate there, not in prepare); points at the buffers'
// heap storage, which moving the vector of buffers does not relocate.
class Iovecs {
  public:
    template <OwnedBuffer B>
    static Iovecs over(std::vector<B>& bufs) {
        Iovecs v;
        v.count_ = detail::clamp_u32(bufs.size());
        v.iov_ = std::make_unique<::iovec[]>(bufs.size());
        for (std::size_t i = 0; i < bufs.size(); ++i) {
            auto bytes = bytes_of(bufs[i]);
            v.iov_[i] = {bytes.data(), bytes.size()};
        }
        return v;
    }
    // Re-reads the buffers' addresses and sizes at prepare time: the event's `bufs` is a public
    // member, and a buffer replaced since construction must not leave the kernel a stale
    // address. False when their number changed (the array cannot grow in a noexcept prepare):
    // the op then fails with EINVAL.
    template <OwnedBuffer B>
    [[nodiscard]] bool refresh(std::vector<B>& bufs) noexcept {
        if (bufs.size() != count_ || (count_ != 0 && !iov_)) return false;
        for (std::size_t i = 0; i < bufs.size(); ++i) {
            auto bytes = bytes_of(bufs[i]);
            iov_[i] = {bytes.data(), bytes.size()};
        }
        return true;
    }
    [[nodiscard]] const ::iovec* data() const noexcept { return iov_.get(); }
    [[nodiscard]] std::uint32_t size() const noexcept { return count_; }

  private:
    std::unique_ptr<::iovec[]> iov_;
    std::uint32_t count_ = 0;
};

} // namespace ringbahn::detail
