// SPDX-License-Identifier: MIT
// ringbahn:ring — Ring<IO, Policy, D>: buffered async read / write over a file or socket.
module;
#include <poll.h>
#include <algorithm>
#include <chrono>
#include <expected>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <coroutine>
#include <memory>
#include <system_error>
#include <optional>
#include <span>
#include <utility>
#include <vector>
export module ringbahn:ring;
import :buffers.buffer_policy;
import :detail.await_once;
import :detail.read_rescue;
import :drive.drive;
import :drivers.local;
import :protocol.error;
import :protocol.event;
import :events.async_cancel;
import :events.close;
import :events.link;
import :events.poll;
import :events.read;
import :events.write;
import :io.owned_fd;
import :policies.heap;
import :await.stop_scope;
import :await.submission;
import :tasks.task;
import :drive.poster;

namespace ringbahn {

// Wraps an IO object and gives async read / fill_buf / consume / write over buffers from the
// Policy. The caller's spans are never handed to the kernel: data is copied to and from
// buffers the Ring leases, so an op cut short (its awaiting coroutine destroyed, with or
// without the Ring) leaves the kernel writing only into a lease that a Cancellation holds until
// the CQE — and then returns to its pool.
//
// Cancel-safe reads: bytes the kernel took from the file or socket are never lost to a
// cancelled read. fill_buf(), read() and read_until() may lose a when_any, hit a deadline, or
// have their awaiting coroutine destroyed while the Ring lives: what their op received stays in
// the Ring, and the next read returns it first, in order. Asked to stop (a when_any loser), a
// read returns std::errc::operation_canceled and leaves the bytes buffered; read_exact puts back
// what it had copied; read_until keeps what it appended in `out` (the caller's).
//
// Files (IO::seekable) track a position: reads continue where the last read or write ended;
// streams use the kernel's position. End of file is a value (an empty span, 0 bytes), errors
// are error_codes. One operation at a time: the Ring is not shared between concurrent awaiters.
// Move it only while no operation is suspended. A moved-from Ring holds nothing: every call on it
// is EBADF.
//
// The default driver is LocalDriver: the fast one (no locks, batched submits, DEFER_TASKRUN),
// and block_on drives it from plain synchronous code. Pick DemoDriver when completions must be
// reaped while the calling thread does something else.
export template <io::IoObject IO, BufferPolicy Policy = policies::Heap<>,
                 Drive D = drivers::LocalDriver>
class Ring {
  public:
    using Lease = typename Policy::Lease;

    Ring(D& driver, IO io, Policy policy = Policy{})
        : driver_(&driver), io_(std::move(io)), policy_(std::move(policy)) {}
    Ring(Ring&&) noexcept = default;
    Ring& operator=(Ring&&) noexcept = default;

    class FillBuf;

    // co_await fill_buf(): the buffered bytes, reading more if none are left; empty at end of
    // file. An awaitable, not a Task: bytes already buffered, or one plain read with a buffer
    // in hand, cost no coroutine frame; the rarer paths (a deadline, a rescued read to wait
    // for, a lease to wait for, kernel-selected buffers) run in fill_buf_slow().
    [[nodiscard]] FillBuf fill_buf() noexcept { return FillBuf(*this); }

  private:
    Task<Result<std::span<const std::byte>>> fill_buf_slow() {
        if (!rescue_) co_return moved_from();
        if (rescue_->has_front()) co_return rescue_->front();
        if (pos_ < filled_) co_return buffered();
        if (read_blocked()) co_return busy();
        // A read whose coroutine was destroyed may still be in the kernel: its bytes come first.
        co_await detail::ReadRescue<Lease>::settled(rescue_.shared(), *driver_);
        if (auto kept = rescue_->take()) {
            read_buf_.emplace(std::move(kept->first));
            co_return after_read(kept->second);
        }
        const std::uint64_t at = IO::seekable ? end_of_buffer_ : current_offset;
        if constexpr (KernelSelectsBuffers<Policy>) {
            // No buffer is held while waiting: the kernel picks one when the data is there.
            const int fd = io_.native_handle();
            Result<std::uint32_t> n = 0u;
            if (read_timeout_) {
                auto [linked, r] = co_await submit(
                    *driver_, events::with_timeout(rescued(policy_.read_event(fd, at)), *read_timeout_));
                if (linked.event.inner.lease) read_buf_.emplace(std::move(*linked.event.inner.lease));
                n = r;
            } else {
                auto [event, r] = co_await submit(*driver_, rescued(policy_.read_event(fd, at)));
                if (event.inner.lease) read_buf_.emplace(std::move(*event.inner.lease));
                n = r;
            }
            if (n || n.error() != std::errc::no_buffer_space) co_return after_read(n);
            // Every buffer is lent out, maybe to connections whose peers are slow: waiting for
            // one could be waiting forever. Wait for data instead (a poll holds no buffer), then
            // read it into heap bytes.
            Result<std::uint32_t> ready = 0u;
            // Marked in flight as a read is: close() cancels it (a poll holds the file open).
            std::optional<detail::InFlight<Lease>> polling(std::in_place, rescue_.shared());
            if (read_timeout_) {
                auto [linked, r] = co_await submit(
                    *driver_, events::with_timeout(events::PollAdd{fd, POLLIN}, *read_timeout_));
                ready = r;
            } else {
                auto [poll, r] = co_await submit(*driver_, events::PollAdd{fd, POLLIN});
                ready = r;
            }
            polling.reset();
            if (!ready) co_return std::unexpected(ready.error());
            auto [event, r] = co_await submit(*driver_, rescued(make_read(policy_.fallback_lease(), at)));
            read_buf_.emplace(std::move(event.inner.buf));
            co_return after_read(r);
        } else {
            if (!read_buf_) {
                auto lease = co_await policy_.acquire(Poster(*driver_));
                if (!lease) co_return std::unexpected(lease.error());
                read_buf_.emplace(std::move(*lease));
            }
            // A buffer in hand, the rescue settled: without a deadline that is FillBuf's own
            // plain read.
            if (!read_timeout_) co_return co_await fill_buf();
            // The lease goes into the event: the kernel owns it until the CQE, and an early end
            // of this coroutine hands it to the Cancellation, which leaves what the op received
            // in rescue_ for the next read.
            auto [linked, n] = co_await submit(
                *driver_, events::with_timeout(rescued(make_read(take(read_buf_), at)), *read_timeout_));
            read_buf_.emplace(std::move(linked.event.inner.buf));
            co_return after_read(n);
        }
    }

  public:

    // A deadline for every read from now on (a LINK_TIMEOUT on each read op): a read that
    // waits longer fails with std::errc::timed_out, and nothing is lost — the next read starts
    // where the cancelled one would have. nullopt: wait as long as it takes. A negative
    // duration is EINVAL and changes nothing.
    [[nodiscard]] Result<void> set_read_timeout(std::optional<std::chrono::nanoseconds> timeout) noexcept {
        if (timeout && *timeout < std::chrono::nanoseconds::zero()) [[unlikely]]
            return std::unexpected(std::make_error_code(std::errc::invalid_argument));
        read_timeout_ = timeout;
        return {};
    }

    // Marks n buffered bytes (of what fill_buf() gave) as read.
    [[gnu::always_inline]] inline void consume(std::size_t n) noexcept {
        if (!rescue_ || rescue_->has_front()) [[unlikely]] {
            if (rescue_) rescue_->consume_front(n);
            return;
        }
        pos_ += std::min(n, filled_ - pos_);
        if constexpr (KernelSelectsBuffers<Policy>)
            if (pos_ < filled_ && read_buf_ && policy_.running_low()) [[unlikely]]
                return copy_out_rest();
        drop_read_lease_if_idle();
    }

    // Copies up to out.size() bytes; 0 only at end of file (or for an empty span).
    // In a when_any / when_all branch, the bytes count as read once the caller takes the
    // branch's value: dropped with it (the caller destroyed first), they go back to the Ring.
    // That holds through when_any / when_all awaited directly by a branch; a Task of yours that
    // awaits read() takes the bytes itself (it may reuse `out`), and is then theirs.
    // `out` stays valid until this Task is destroyed.
    Task<Result<std::size_t>> read(std::span<std::byte> out) {
        if (out.empty()) co_return 0;
        auto data = co_await fill_buf();
        if (!data) co_return std::unexpected(data.error());
        StopScope* scope = co_await this_stop_scope();
        if (stopped(scope)) co_return cancelled(); // the bytes stay buffered
        const std::size_t n = std::min(out.size(), data->size());
        if (n) std::memcpy(out.data(), data->data(), n);
        consume(n);
        if (scope && n) [[unlikely]]
            detail::put_back_if_dropped(*scope, rescue_.shared(), out.first(n));
        co_return n;
    }

    // Fills all of out, or fails with Errc::unexpected_eof. Ending any other way — an error, a
    // stop request, its coroutine destroyed midway, or its value dropped as read()'s can be —
    // it puts back what it had copied: the next read returns it. `out` stays valid until this
    // Task is destroyed.
    Task<Result<void>> read_exact(std::span<std::byte> out) {
        if (!rescue_) co_return moved_from();
        PutBackUnlessKept copied{rescue_.shared(), out.first(0)};
        while (copied.bytes.size() < out.size()) {
            auto data = co_await fill_buf();
            if (data && !data->empty() && stopped(co_await this_stop_scope())) data = cancelled();
            if (!data) co_return std::unexpected(data.error());
            if (data->empty()) {
                copied.keep(); // the stream ended: what came stays in `out`
                co_return std::unexpected(make_error_code(Errc::unexpected_eof));
            }
            const std::size_t n = std::min(out.size() - copied.bytes.size(), data->size());
            std::memcpy(out.data() + copied.bytes.size(), data->data(), n);
            consume(n);
            copied.bytes = out.first(copied.bytes.size() + n);
        }
        copied.keep();
        if (StopScope* scope = co_await this_stop_scope(); scope && !out.empty())
            detail::put_back_if_dropped(*scope, rescue_.shared(), out);
        co_return Result<void>{};
    }

    // Appends bytes to `out` up to and including `delimiter` (or to end of file); returns how
    // many were appended, 0 at end of file. On an error or a stop request, what it appended
    // so far stays in `out`.
    Task<Result<std::size_t>> read_until(std::byte delimiter, std::vector<std::byte>& out) {
        std::size_t appended = 0;
        for (;;) {
            auto data = co_await fill_buf();
            if (data && !data->empty() && stopped(co_await this_stop_scope())) data = cancelled();
            if (!data) co_return std::unexpected(data.error());
            if (data->empty()) co_return appended;
            const auto hit = std::find(data->begin(), data->end(), delimiter);
            const std::size_t n = std::size_t(hit - data->begin()) + (hit != data->end());
            out.insert(out.end(), data->begin(), data->begin() + long(n));
            consume(n);
            appended += n;
            if (hit != data->end()) co_return appended;
        }
    }

    // Writes up to one buffer's worth of `in`; returns the bytes the kernel took (maybe short).
    // One write at a time (a second is EBUSY); a file's Ring not while it reads either (the
    // position would race). A socket's may write while it reads.
    Task<Result<std::size_t>> write(std::span<const std::byte> in) {
        if (!rescue_) co_return moved_from();
        if (in.empty()) co_return 0;
        // Marked in flight (close() cancels it). A file's: not beside any other op.
        if (IO::seekable ? rescue_->busy() : rescue_->busy(detail::ReadRescue<Lease>::writing))
            co_return busy();
        detail::InFlight<Lease> writing(rescue_.shared(), detail::ReadRescue<Lease>::writing);
        if (!write_buf_) {
            auto lease = co_await policy_.acquire(Poster(*driver_));
            if (!lease) co_return std::unexpected(lease.error());
            write_buf_.emplace(std::move(*lease));
        }
        const std::uint64_t at = IO::seekable ? position() : current_offset;
        if (IO::seekable && at > std::uint64_t{INT64_MAX}) [[unlikely]] // never ~0: "the fd's own"
            co_return std::unexpected(std::make_error_code(std::errc::invalid_argument));
        Lease buf = take(write_buf_);
        const std::size_t len = std::min(in.size(), std::size(buf));
        if (len != 0) std::memcpy(std::data(buf), in.data(), len); // an empty lease: no bytes
        auto [event, n] = co_await submit(*driver_, make_write(std::move(buf), at, len));
        if (Policy::keep_leases) write_buf_.emplace(std::move(event.buf));
        if (!n) co_return std::unexpected(n.error());
        if constexpr (IO::seekable) {
            // What was read ahead is stale once we write — buffered, put back in front, or kept
            // from an abandoned read — as after a seek: continue after what was written.
            forget_read_ahead();
            end_of_buffer_ = at + *n;
        }
        co_return std::size_t{*n};
    }

    // Writes all of `in`, looping over short writes.
    Task<Result<void>> write_all(std::span<const std::byte> in) {
        while (!in.empty()) {
            auto n = co_await write(in);
            if (!n) co_return std::unexpected(n.error());
            if (*n == 0) co_return std::unexpected(make_error_code(Errc::write_zero));
            in = in.subspan(*n);
        }
        co_return Result<void>{};
    }

    // Every write is complete when write() returns: nothing is buffered, nothing to flush.
    // Kept so code written against buffered writers reads the same. (Durability is fsync.)
    Task<Result<void>> flush() { co_return Result<void>{}; }

    // Closes the IO object through the ring and drops the leases. A read or write of this Ring
    // in flight (awaited by another coroutine) is cancelled first — every op on the fd is
    // (ASYNC_CANCEL by fd): it ends with ECANCELED, or with what it got before. Closing again
    // does nothing.
    Task<Result<void>> close() {
        if (!rescue_) co_return moved_from();
        forget_read_ahead();
        read_buf_.reset();
        write_buf_.reset();
        const bool ops_in_flight = rescue_->busy();
        const int fd = io_.release();
        if (fd < 0) co_return Result<void>{};
        if (ops_in_flight) co_await submit(*driver_, events::AsyncCancel{fd});
        auto [c, r] = co_await submit(*driver_, events::Close{fd});
        if (!r) co_return std::unexpected(r.error());
        co_return Result<void>{};
    }

    // Files: moves the position; buffered read-ahead is dropped. An offset past INT64_MAX is
    // EINVAL and changes nothing: no file has one, and ~0 is io_uring's "the fd's own position"
    // (a write there would land wherever the fd points). While a read or write is in flight it
    // is EBUSY and changes nothing: that op's bytes belong to the old position.
    [[gnu::always_inline]] inline Result<void> seek(std::uint64_t offset) noexcept
        requires(IO::seekable)
    {
        if (!rescue_ || offset > std::uint64_t{INT64_MAX} || rescue_->busy() || rescue_->has_front() ||
            !rescue_->quiet()) [[unlikely]]
            return seek_slow(offset);
        rescue_->next_epoch(); // a dropped read's bytes belong to the old position
        end_of_buffer_ = offset;
        pos_ = filled_ = 0;
        drop_read_lease_if_idle();
        return {};
    }

    // Files: the offset the next read or write uses.
    [[nodiscard]] std::uint64_t position() const noexcept {
        if (!rescue_) return 0; // moved from
        return end_of_buffer_ - (filled_ - pos_) - rescue_->front().size();
    }
    [[nodiscard]] IO& io() noexcept { return io_; }
    [[nodiscard]] Policy& policy() noexcept { return policy_; }
    [[nodiscard]] bool holds_read_buffer() const noexcept { return rescue_ && read_buf_.has_value(); }

  private:
    // Whether the coroutine chain a read runs in was asked to stop (a when_any loser).
    static bool stopped(const StopScope* scope) noexcept { return scope && scope->requested(); }
    static std::unexpected<std::error_code> cancelled() noexcept {
        return std::unexpected(std::make_error_code(std::errc::operation_canceled));
    }
    static std::unexpected<std::error_code> moved_from() noexcept {
        return std::unexpected(std::make_error_code(std::errc::bad_file_descriptor));
    }
    static std::unexpected<std::error_code> busy() noexcept {
        return std::unexpected(std::make_error_code(std::errc::device_or_resource_busy));
    }
    // A read may not start: another read is in flight (its bytes and this one's would race for
    // the buffer), or — a file — a write (the position).
    [[nodiscard, gnu::always_inline]] inline bool read_blocked() const noexcept {
        if constexpr (IO::seekable)
            return rescue_->busy();
        else
            return rescue_->busy(detail::ReadRescue<Lease>::reading);
    }
    // FillBuf's own read (no deadline, nothing rescued to wait for, nothing in flight) may go.
    [[nodiscard, gnu::always_inline]] inline bool plain_read_may_go() const noexcept {
        return !read_timeout_ && rescue_->quiet() && !read_blocked();
    }
    // read_exact's bytes copied so far: put back in front of the Ring's unless kept (its frame
    // destroyed midway runs this too). Holds the rescue, not the Ring: the Ring may be gone.
    struct PutBackUnlessKept {
        std::shared_ptr<detail::ReadRescue<Lease>> rescue;
        std::span<const std::byte> bytes;
        void keep() noexcept { bytes = {}; }
        ~PutBackUnlessKept() { rescue->put_back(bytes); }
    };
    // Shared buffers running low: the unconsumed rest of this chunk moves to the heap (served
    // first, as read_exact's put-back bytes are) and the buffer goes back to its ring now.
    void copy_out_rest() {
        rescue_->put_back(buffered());
        pos_ = filled_ = 0;
        read_buf_.reset();
    }
    template <class E>
    detail::Rescued<E, Lease> rescued(E event) {
        return {std::move(event), detail::InFlight<Lease>(rescue_.shared())};
    }

    [[gnu::noinline]] Result<void> seek_slow(std::uint64_t offset) noexcept {
        if (!rescue_) return moved_from();
        if (offset > std::uint64_t{INT64_MAX})
            return std::unexpected(std::make_error_code(std::errc::invalid_argument));
        if (rescue_->busy()) return busy();
        forget_read_ahead();
        end_of_buffer_ = offset;
        return {};
    }
    // Read-ahead belongs to the old position (a seek, a file write, close): what is buffered,
    // put back in front, or kept or still coming from an abandoned read.
    void forget_read_ahead() noexcept {
        rescue_->next_epoch();
        pos_ = filled_ = 0;
        rescue_->clear_front();
        rescue_->discard();
        drop_read_lease_if_idle();
    }

    // A read op's result: n bytes at the start of read_buf_, or its error.
    [[gnu::always_inline]] inline Result<std::span<const std::byte>> after_read(const Result<std::uint32_t>& n) noexcept {
        pos_ = filled_ = 0;
        if (!n) {
            drop_read_lease_if_idle();
            return std::unexpected(n.error());
        }
        if constexpr (!KernelSelectsBuffers<Policy>) {
            // A policy's empty lease: 0 bytes read is not end of file. (A kernel-selected
            // buffer's lease is as long as what was read: 0 at end of file.)
            if (*n == 0 && read_buf_ && std::size(*read_buf_) == 0) [[unlikely]] {
                read_buf_.reset();
                return std::unexpected(std::make_error_code(std::errc::invalid_argument));
            }
        }
        filled_ = *n;
        end_of_buffer_ += *n;
        drop_read_lease_if_idle(); // at end of file, nothing is buffered
        return buffered();
    }

    [[gnu::always_inline]] static inline Lease take(std::optional<Lease>& slot) noexcept {
        Lease l = std::move(*slot);
        slot.reset();
        return l;
    }

    [[gnu::always_inline]] inline std::span<const std::byte> buffered() const noexcept {
        if (!read_buf_) return {};
        return std::span<const std::byte>(std::data(*read_buf_) + pos_, filled_ - pos_);
    }

    [[gnu::always_inline]] inline void drop_read_lease_if_idle() noexcept {
        if constexpr (!Policy::keep_leases)
            if (pos_ == filled_) read_buf_.reset();
    }

    auto make_read(Lease buf, std::uint64_t at) {
        if constexpr (Policy::registered)
            return events::ReadFixed<Lease>{io_.native_handle(), std::move(buf), at};
        else
            return events::Read<Lease>{io_.native_handle(), std::move(buf), at};
    }
    auto make_write(Lease buf, std::uint64_t at, std::size_t len) {
        if constexpr (Policy::registered)
            return events::WriteFixed<Lease>{io_.native_handle(), std::move(buf), at, len};
        else
            return events::Write<Lease>{io_.native_handle(), std::move(buf), at, len};
    }

    D* driver_;
    IO io_;
    Policy policy_;
    std::optional<Lease> read_buf_;
    std::optional<Lease> write_buf_;
    std::size_t pos_ = 0;              // next unread byte in read_buf_
    std::size_t filled_ = 0;           // bytes of read_buf_ holding data
    std::uint64_t end_of_buffer_ = 0;  // files: the offset just past the buffered data
    std::optional<std::chrono::nanoseconds> read_timeout_;
    // What a read whose coroutine was destroyed received, for the next read.
    // It also holds bytes put back in front (read_exact's, a dropped read's), served first.
    detail::RescueOwner<Lease> rescue_;
};

// Ring::fill_buf()'s awaitable. Awaited once, as an rvalue; movable until then (a when_any
// branch takes it by value). Destroyed while suspended, it destroys the read op inside it: the
// op is cancelled and what it received stays in the Ring, as for any abandoned Ring read.
template <io::IoObject IO, BufferPolicy Policy, Drive D>
class [[nodiscard]] Ring<IO, Policy, D>::FillBuf {
  public:
    using Value = Result<std::span<const std::byte>>;

    explicit FillBuf(Ring& ring) noexcept : ring_(&ring) {}
    // The one moved from is spent; moved once awaited (or while suspended, from elsewhere), the
    // new one is spent and the first keeps what it runs.
    FillBuf(FillBuf&& other) noexcept : ring_(other.ring_) {
        if (other.path_ == Path::unset)
            other.path_ = Path::ready;
        else
            path_ = Path::ready;
    }
    FillBuf(const FillBuf&) = delete;
    FillBuf& operator=(const FillBuf&) = delete;
    [[gnu::always_inline, gnu::flatten]] inline ~FillBuf() {
        if (path_ == Path::op)
            op_.~ReadSubmission(); // cancels the read if still in flight
        else if (path_ == Path::slow) [[unlikely]]
            slow_.~Slow();
    }

    // Awaited once (detail::AwaitOnce's rule): a FillBuf awaited before, or moved from, is spent —
    // its await is ready at once with EINVAL, and touches nothing of the first.
    struct Awaiter {
        FillBuf& f;
        bool refused = false;
        [[gnu::always_inline]] inline bool await_ready() {
            if (f.path_ != Path::unset) [[unlikely]]
                return refused = true;
            return f.ready();
        }
        template <class P>
        [[gnu::always_inline]] inline std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) {
            return f.suspend(h);
        }
        [[gnu::always_inline]] inline Value await_resume() {
            if (refused) [[unlikely]]
                return detail::spent_value<Value>();
            return f.resume();
        }
    };
    [[nodiscard]] Awaiter operator co_await() && noexcept { return Awaiter{*this}; }

  private:
    using ReadOp = decltype(std::declval<Ring&>().rescued(
        std::declval<Ring&>().make_read(std::declval<Lease>(), std::uint64_t{})));
    using ReadEvent = decltype(ReadOp::inner);
    using ReadSubmission = Submission<ReadOp, D>;
    enum class Path : std::uint8_t { unset, ready, op, slow };

    // Bytes at hand: ready. One plain read can go now: it is prepared here and submitted in
    // suspend. That much is inlined into the awaiting coroutine; anything else is ready_slow.
    [[gnu::always_inline, gnu::flatten]] inline bool ready() {
        Ring& r = *ring_;
        if (r.rescue_ && !r.rescue_->has_front()) [[likely]] {
            if (r.pos_ < r.filled_) return ready_with(r.buffered());
            if constexpr (!KernelSelectsBuffers<Policy>) {
                if (r.plain_read_may_go()) [[likely]] {
                    const std::uint64_t at = IO::seekable ? r.end_of_buffer_ : current_offset;
                    if constexpr (requires { r.policy_.lease_into(r.read_buf_); }) {
                        if (r.read_buf_ || r.policy_.lease_into(r.read_buf_)) [[likely]]
                            return submit_read(take(r.read_buf_), at);
                    } else {
                        if (r.read_buf_) [[likely]]
                            return submit_read(take(r.read_buf_), at);
                    }
                }
            }
        }
        return ready_slow();
    }
    // Bytes put back in front; a lease an acquire() gives at once; else the slow path's Task.
    [[gnu::noinline]] bool ready_slow() {
        Ring& r = *ring_;
        if (!r.rescue_) return ready_with(moved_from());
        if (r.rescue_->has_front()) return ready_with(r.rescue_->front());
        if constexpr (!KernelSelectsBuffers<Policy> && !requires { r.policy_.lease_into(r.read_buf_); }) {
            if (r.plain_read_may_go() && !r.read_buf_) {
                auto acquire = r.policy_.acquire(Poster(*r.driver_));
                if (acquire.await_ready()) {
                    auto lease = acquire.await_resume();
                    if (!lease) return ready_with(std::unexpected(lease.error()));
                    const std::uint64_t at = IO::seekable ? r.end_of_buffer_ : current_offset;
                    return submit_read(std::move(*lease), at);
                }
            }
        }
        std::construct_at(&slow_, r.fill_buf_slow());
        path_ = Path::slow;
        return false;
    }
    // The read op, built in place: the lease is moved once, into the event.
    [[gnu::always_inline]] inline bool submit_read(Lease&& lease, std::uint64_t at) {
        Ring& r = *ring_;
        ::new (static_cast<void*>(&op_)) ReadSubmission(
            *r.driver_, std::in_place, ReadEvent{r.io_.native_handle(), std::move(lease), at}, r.rescue_.shared());
        path_ = Path::op;
        return false;
    }
    [[gnu::always_inline]] inline bool ready_with(Value v) noexcept {
        value_ = v;
        path_ = Path::ready;
        return true;
    }
    template <class P>
    [[gnu::always_inline]] inline std::coroutine_handle<> suspend(std::coroutine_handle<P> h) {
        if (path_ == Path::op) [[likely]]
            return std::move(op_).operator co_await().await_suspend(h) ? std::noop_coroutine()
                                                                         : std::coroutine_handle<>(h);
        return suspend_slow(h);
    }
    template <class P>
    [[gnu::noinline]] std::coroutine_handle<> suspend_slow(std::coroutine_handle<P> h) {
        slow_.awaiter.emplace(std::move(slow_.task).operator co_await());
        return slow_.awaiter->await_suspend(h);
    }
    [[gnu::always_inline, gnu::flatten]] inline Value resume() {
        if (path_ == Path::op) [[likely]] {
            auto [event, n] = std::move(op_).operator co_await().await_resume();
            ring_->read_buf_.emplace(std::move(event.inner.buf));
            return ring_->after_read(n);
        }
        return resume_slow();
    }
    [[gnu::noinline]] Value resume_slow() {
        if (path_ == Path::slow) return slow_.awaiter->await_resume();
        return value_;
    }

    Ring* ring_;
    Path path_ = Path::unset;
    Value value_{};
    struct Slow {
        explicit Slow(Task<Value> t) noexcept : task(std::move(t)) {}
        Task<Value> task;
        std::optional<typename Task<Value>::Awaiter> awaiter;
    };
    union { // op_ alive while path_ is Path::op, slow_ while Path::slow: no engaged flags
        ReadSubmission op_;
        Slow slow_;
    };
};

export template <io::IoObject IO, Drive D>
Ring(D&, IO) -> Ring<IO, policies::Heap<>, D>;
export template <io::IoObject IO, BufferPolicy P, Drive D>
Ring(D&, IO, P) -> Ring<IO, P, D>;

} // namespace ringbahn
