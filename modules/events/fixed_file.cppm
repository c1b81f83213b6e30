// SPDX-License-Identifier: MIT
// ringbahn:events.fixed_file — registered ("fixed") files: IORING_OP_FILES_UPDATE, and
// fixed(event) to run any fd-taking event on a registered file.
module;
#include <liburing.h>
#include <cerrno>
#include <cstdint>
#include <expected>
#include <memory>
#include <span>
#include <utility>
#include <vector>
export module ringbahn:events.fixed_file;
import :protocol.cancellation;
import :detail.sqe;
import :protocol.completion;
import :protocol.error;
import :protocol.event;
import :protocol.op_handle;

namespace ringbahn::events {

// Installs fds into the driver's file table (register_files(n) first) from slot `offset` on;
// an fd of -1 clears a slot. The kernel takes its own reference: the caller may close its fds
// afterwards. The value is the number of slots updated.
export struct FilesUpdate {
    FilesUpdate(std::vector<int> fds, std::uint32_t offset)
        : offset(offset), fds(std::make_unique<std::vector<int>>(std::move(fds))) {}
    std::uint32_t offset;
    std::unique_ptr<std::vector<int>> fds;

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return 1; }
    inline void prepare(const PrepareKey&, std::span<::io_uring_sqe> sqes) noexcept {
        if (!fds) [[unlikely]] // moved from
            return detail::prep_error(sqes[0], EINVAL);
        detail::prep_rw(sqes[0], IORING_OP_FILES_UPDATE, -1, fds->data(),
                        detail::clamp_u32(fds->size()), offset);
    }
    [[nodiscard]] inline Cancellation cancel() && noexcept { return hold_until_cqe(std::move(fds)); }
};
static_assert(Event<FilesUpdate>);

// fixed(Read<>{slot, buf}): the event's fd field holds a slot of the registered file table,
// and its first SQE says so (IOSQE_FIXED_FILE): the kernel skips the fd lookup and refcount.
export template <SingleShot E>
struct Fixed {
    E event;

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return event.sqes_needed(); }
    inline void prepare(const PrepareKey& key, std::span<::io_uring_sqe> sqes) noexcept {
        event.prepare(key, sqes);
        sqes[0].flags |= IOSQE_FIXED_FILE;
    }
    // The event's optional hooks (event.cppm, op_handle.cppm) pass through unchanged.
    [[nodiscard]] inline Cqe* sqe_results() noexcept
        requires RecordsSqeResults<E>
    {
        return event.sqe_results();
    }
    inline void granted(std::uint64_t user_data) noexcept
        requires Targetable<E>
    {
        event.granted(user_data);
    }
    [[nodiscard]] inline Result<std::uint32_t> finish(std::int32_t res, std::uint32_t flags) noexcept
        requires FinishesResult<E>
    {
        return event.finish(res, flags);
    }
    [[nodiscard]] inline auto output(Result<std::uint32_t> r) && noexcept
        requires HasOutput<E>
    {
        return std::move(event).output(std::move(r));
    }
    [[nodiscard]] inline Cancellation cancel() && noexcept { return std::move(event).cancel(); }
};

export template <SingleShot E>
[[nodiscard]] inline Fixed<E> fixed(E event) {
    return Fixed<E>{std::move(event)};
}

} // namespace ringbahn::events
