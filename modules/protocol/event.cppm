// SPDX-License-Identifier: MIT
// ringbahn:protocol.event — the Event concept and PrepareKey, the passkey that guards prepare().
module;
#include <liburing.h>
#include <concepts>
#include <cstdint>
#include <span>
#include <type_traits>
#include <utility>
export module ringbahn:protocol.event;
import :protocol.cancellation;
import :protocol.completion;
import :protocol.error;

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

    // The driver whose ring the SQEs go to (its Liveness id): an event that uses something
    // registered with one driver (ProvidedBuffers) checks it is that driver.
    [[nodiscard]] inline std::uint64_t driver() const noexcept { return driver_; }

  private:
    inline explicit PrepareKey(std::uint64_t driver) noexcept : driver_(driver) {}
    friend struct detail::PrepareKeyMaker;
    std::uint64_t driver_;
};

namespace detail {
struct PrepareKeyMaker {
    static inline PrepareKey make(std::uint64_t driver) noexcept { return PrepareKey{driver}; }
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
// What an awaiter gets back — one contract, two optional steps, each with a default. The
// submission machinery runs both exactly once, after the op's last CQE, in this order:
//  1. result: `Result<std::uint32_t> finish(std::int32_t res, std::uint32_t flags) noexcept`
//     turns the op's result (first error, else the last CQE's res) and flags into a value or an
//     error: a link reads its SQEs' results, a provided-buffer read takes its buffer from the
//     flags, a poll returns its mask. Default: res ≥ 0 is the value, res < 0 its errno.
//  2. output: `Output output(Result<std::uint32_t>) && noexcept` consumes the event and gives
//     the awaiter's value. Ops that make something the caller must own say so in their type:
//     accept, openat and socket give `Result<io::OwnedFd>`, so a dropped result closes its fd.
//     Default: `Returned<E>` — the result and the event, with the buffers the caller moved in
//     (the `(result, buffer)` shape of buffer ops).
// A third optional member belongs to the link machinery:
//  * `Cqe* sqe_results() noexcept` — an event of several SQEs (a link) gets each SQE's
//    CQE written to [0, sqes_needed()), in storage it owns on the heap.
export template <class E>
concept Event = std::movable<E> &&
                requires(E& e, const PrepareKey& key, std::span<::io_uring_sqe> sqes) {
                    { std::as_const(e).sqes_needed() } noexcept -> std::same_as<std::uint32_t>;
                    { e.prepare(key, sqes) } noexcept;
                    { std::move(e).cancel() } noexcept -> std::same_as<Cancellation>;
                };

} // namespace ringbahn

namespace ringbahn {
// A multishot event (accept, recv, poll armed once, many CQEs, each producing something): only a
// MultishotStream takes them all. Submitted as one op — alone, or inside a link, a with_timeout
// or fixed() — every CQE but the last would be dropped, and with it an fd or a buffer.
export template <class E>
concept Multishot = requires { typename E::Item; };
// Any other event: what submit, link, with_timeout and fixed take.
export template <class E>
concept SingleShot = Event<E> && !Multishot<E>;

export template <class E>
concept RecordsSqeResults = requires(E& e) {
    { e.sqe_results() } noexcept -> std::same_as<Cqe*>;
};
export template <class E>
concept FinishesResult = requires(E& e, std::int32_t res, std::uint32_t flags) {
    { e.finish(res, flags) } noexcept -> std::same_as<Result<std::uint32_t>>;
};
export template <class E>
concept HasOutput = requires(E&& e, Result<std::uint32_t> r) {
    { std::move(e).output(std::move(r)) } noexcept;
};

// The default output: the event back (and with it its buffers), and the op's result.
export template <class E>
struct Returned {
    E event;
    Result<std::uint32_t> result;
};

// Step 1 of the contract: the event's result from its (last) CQE.
export template <class E>
[[nodiscard]] inline Result<std::uint32_t> finish_result(E& e, std::int32_t res,
                                                         std::uint32_t flags) noexcept {
    if constexpr (FinishesResult<E>)
        return e.finish(res, flags);
    else
        return cqe_result(res);
}

// Step 2: what the awaiter gets; consumes the event.
export template <class E>
[[nodiscard]] inline auto output_of(E&& e, Result<std::uint32_t> r) noexcept {
    if constexpr (HasOutput<E>)
        return std::move(e).output(std::move(r));
    else
        return Returned<std::remove_cvref_t<E>>{std::move(e), std::move(r)};
}

// The type `co_await submit(d, E{...})` gives.
export template <class E>
using OutputOf = decltype(output_of(std::declval<E>(), std::declval<Result<std::uint32_t>>()));

} // namespace ringbahn
