// SPDX-License-Identifier: MIT
// ringbahn:event — the Event concept and PrepareKey, the passkey that guards prepare().
module;
#include <liburing.h>
#include <concepts>
#include <cstdint>
#include <span>
#include <utility>
export module ringbahn:event;
import :cancellation;
import :completion;

namespace ringbahn {

// Offset for ops on "the file's current position": streams, pipes, sockets, or a file read
// sequentially by the kernel (it moves the position as a read(2) would).
export inline constexpr std::uint64_t current_offset = ~std::uint64_t{0};

namespace detail {
struct PrepareKeyMaker; // not exported: code outside the module cannot name it
}

// The right to call Event::prepare. Only the submission machinery can make one (the maker
// is invisible outside the module), and it cannot be copied or moved, so an event cannot keep
// one for later: preparing — handing the event's storage to the kernel — happens only when a
// driver has reserved SQEs for it.
export class PrepareKey {
  public:
    PrepareKey(const PrepareKey&) = delete;
    PrepareKey& operator=(const PrepareKey&) = delete;

  private:
    PrepareKey() = default;
    friend struct detail::PrepareKeyMaker;
};

namespace detail {
struct PrepareKeyMaker {
    static inline PrepareKey make() noexcept { return PrepareKey{}; }
};
} // namespace detail

// Event — one io_uring operation and the memory the kernel borrows for it.
// A model guarantees:
//  * sqes_needed() returns the same value every time (1 unless it links SQEs).
//  * prepare(key, sqes) fills exactly sqes_needed() zeroed-or-not entries, setting every field
//    it relies on (user_data is the driver's: it is overwritten after prepare). Every address
//    it hands the kernel points into storage the event owns on the heap or in a pool, never into
//    the event object itself, which may be moved while the kernel works.
//  * After prepare() nobody touches the event until its last CQE arrives or cancel() runs.
//  * std::move(e).cancel() moves all borrowed storage into the returned Cancellation, which
//    runs with the op's CQE: if the op produced something anyway (an fd, a provided buffer),
//    the Cancellation gives it back.
//
// Optional members, used when present:
//  * `CqeResult* sqe_results() noexcept` — an event of several SQEs (a link) gets each SQE's
//    CQE written to [0, sqes_needed()), in storage it owns on the heap.
//  * `Result<std::uint32_t> finish(std::int32_t res, std::uint32_t flags) noexcept` — turns the
//    op's result (first error, else the last CQE's res) and flags into the awaiter's result,
//    after the last CQE: a link reads its SQEs' results, a provided-buffer read takes its
//    buffer from the flags.
export template <class E>
concept Event = std::movable<E> &&
                requires(E& e, const PrepareKey& key, std::span<::io_uring_sqe> sqes) {
                    { std::as_const(e).sqes_needed() } noexcept -> std::same_as<std::uint32_t>;
                    { e.prepare(key, sqes) } noexcept;
                    { std::move(e).cancel() } noexcept -> std::same_as<Cancellation>;
                };

} // namespace ringbahn

namespace ringbahn {
export template <class E>
concept RecordsSqeResults = requires(E& e) {
    { e.sqe_results() } noexcept -> std::same_as<CqeResult*>;
};
export template <class E>
concept FinishesResult = requires(E& e, std::int32_t res, std::uint32_t flags) {
    { e.finish(res, flags) } noexcept;
};
} // namespace ringbahn
