// SPDX-License-Identifier: MIT
// ringbahn:events.waitid — IORING_OP_WAITID (6.7): wait for a child process to change state.
module;
#include <liburing.h>
#include <signal.h>
#include <sys/wait.h>
#include <cstdint>
#include <memory>
#include <span>
export module ringbahn:events.waitid;
import :protocol.cancellation;
import :detail.sqe;
import :protocol.event;

namespace ringbahn::events {

// waitid(2): idtype P_PID / P_PGID / P_ALL, options WEXITED etc.; the child's status lands in
// `info` (heap). The value is 0; ECHILD when there is no such child.
export struct Waitid {
    ::idtype_t idtype;
    ::id_t id;
    int options = WEXITED;
    std::unique_ptr<::siginfo_t> info = std::make_unique<::siginfo_t>();

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        detail::prep_rw(sqes[0], detail::op_waitid, static_cast<int>(id), nullptr,
                        static_cast<std::uint32_t>(idtype), 0);
        sqes[0].file_index = static_cast<std::uint32_t>(options); // the kernel reads them here
        sqes[0].addr2 = reinterpret_cast<std::uintptr_t>(info.get());
    }
    [[nodiscard]] inline Cancellation cancel() && noexcept { return hold_until_cqe(std::move(info)); }
};
static_assert(Event<Waitid>);

} // namespace ringbahn::events
