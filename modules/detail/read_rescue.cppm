// SPDX-License-Identifier: MIT
// ringbahn:detail.read_rescue — what a Ring's abandoned read received, kept for its next read.
module;
#include <liburing.h>
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <coroutine>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <utility>
#include <vector>
export module ringbahn:detail.read_rescue;
import :buffers.provided_buffers;
import :protocol.cancellation;
import :drive.drive;
import :protocol.error;
import :protocol.event;
import :drive.poster;
import :await.stop_scope;

namespace ringbahn::detail {

// A Ring's read op whose awaiting coroutine was destroyed (while the Ring lives) may still
// complete in the kernel: the bytes it took from the socket are nobody else's. Its Cancellation
// deposits them here, and the Ring's next read takes them first — after waiting for that CQE
// if it is not in yet, so bytes are never reordered. Shared by the Ring and the Cancellation;
// the deposit runs on the reaping thread, the Ring on its owner's.
template <class Lease>
class ReadRescue : public std::enable_shared_from_this<ReadRescue<Lease>> {
  public:
    // The read went to a Cancellation: a deposit will come. Only the Ring's owner calls it.
    void expect() {
        std::lock_guard lock(mutex_);
        pending_.fetch_add(1, std::memory_order_relaxed);
    }
    // Its CQE: res > 0 bytes in `lease` (res ≤ 0: nothing to keep).
    // The waiter is posted under the lock: Settled's destructor, holding it, then either finds
    // the waiter still here or the posting done (and unposts it) — never in between.
    void deposit(std::optional<Lease> lease, std::int32_t res) noexcept {
        std::optional<Lease> dropped;
        std::lock_guard lock(mutex_);
        const std::uint32_t left = pending_.load(std::memory_order_relaxed) - 1;
        if (res > 0 && lease && !stale_) {
            kept_.emplace(std::move(*lease));
            bytes_ = static_cast<std::uint32_t>(res);
            has_kept_.store(true, std::memory_order_relaxed);
        } else {
            dropped = std::move(lease); // freed (or back to its ring) after the lock
        }
        if (left == 0) stale_ = false;
        // Release: an owner that reads pending_ == 0 without the lock also sees kept_.
        pending_.store(left, std::memory_order_release);
        if (left == 0 && waiter_) poster_->post(std::exchange(waiter_, {}));
    }
    // seek(): whatever is kept or still coming belongs to the old position.
    [[gnu::always_inline]] inline void discard() noexcept {
        if (quiet()) [[likely]]
            return; // nothing kept, nothing coming: no lock on the read path
        discard_locked();
    }
    [[gnu::noinline]] void discard_locked() noexcept {
        std::optional<Lease> old;
        std::lock_guard lock(mutex_);
        old = std::move(kept_);
        kept_.reset();
        has_kept_.store(false, std::memory_order_relaxed);
        stale_ = pending_.load(std::memory_order_relaxed) > 0;
    }
    // The kept bytes, if any (taken out).
    [[gnu::always_inline]] inline std::optional<std::pair<Lease, std::uint32_t>> take() noexcept {
        if (!has_kept_.load(std::memory_order_acquire)) [[likely]]
            return std::nullopt;
        return take_locked();
    }
    [[gnu::noinline]] std::optional<std::pair<Lease, std::uint32_t>> take_locked() noexcept {
        std::lock_guard lock(mutex_);
        if (!kept_) return std::nullopt;
        std::pair<Lease, std::uint32_t> out{std::move(*kept_), bytes_};
        kept_.reset();
        has_kept_.store(false, std::memory_order_relaxed);
        return out;
    }

    // Bytes put back in front of everything else (read_exact's partial copy, a read whose
    // value nobody took): the next read returns them first. Only the Ring's owner touches these.
    void put_back(std::span<const std::byte> bytes) {
        if (bytes.empty()) return;
        std::vector<std::byte> front(bytes.begin(), bytes.end());
        front.insert(front.end(), front_.begin() + long(front_pos_), front_.end());
        front_ = std::move(front);
        front_pos_ = 0;
    }
    // Counts position changes (seek, write, close): a dropped read's bytes go back only if the
    // position has not moved since (put_back_if_dropped).
    inline void next_epoch() noexcept { ++epoch_; }
    [[nodiscard]] inline std::uint64_t epoch() const noexcept { return epoch_; }
    [[nodiscard, gnu::always_inline]] inline bool has_front() const noexcept { return front_pos_ < front_.size(); }
    [[nodiscard]] inline std::span<const std::byte> front() const noexcept {
        return std::span<const std::byte>(front_).subspan(front_pos_);
    }
    inline void consume_front(std::size_t n) noexcept {
        front_pos_ += std::min(n, front_.size() - front_pos_);
        if (front_pos_ == front_.size()) clear_front();
    }
    inline void clear_front() noexcept {
        front_.clear();
        front_pos_ = 0;
    }

    // co_await settled(rescue, driver): resumes (through the driver) once no abandoned read is
    // out. When nothing was abandoned it costs one load, no lock. The awaiter shares the rescue:
    // the frame waiting here may be destroyed after the Ring, and its destructor unparks.
    template <class D>
    class Settled {
      public:
        Settled(std::shared_ptr<ReadRescue> r, D& d) noexcept : rescue_(std::move(r)), r_(*rescue_), d_(d) {}
        Settled(const Settled&) = delete;
        ~Settled() {
            if (!parked_) return;
            std::lock_guard lock(r_.mutex_);
            if (r_.waiter_ == h_) r_.waiter_ = {}; // not handed over yet
            else r_.poster_->unpost(h_);          // handed over: forget the posting
        }
        bool await_ready() noexcept { return r_.pending_.load(std::memory_order_acquire) == 0; }
        bool await_suspend(std::coroutine_handle<> h) noexcept {
            std::lock_guard lock(r_.mutex_);
            if (r_.pending_.load(std::memory_order_relaxed) == 0) return false;
            h_ = h;
            parked_ = true;
            r_.waiter_ = h;
            r_.poster_.emplace(d_);
            return true;
        }
        void await_resume() noexcept { parked_ = false; }

      private:
        std::shared_ptr<ReadRescue> rescue_;
        ReadRescue& r_;
        D& d_;
        std::coroutine_handle<> h_{};
        bool parked_ = false;
    };
    template <class D>
    static Settled<D> settled(std::shared_ptr<ReadRescue> rescue, D& d) noexcept {
        return Settled<D>(std::move(rescue), d);
    }

    // Which of the Ring's ops are in flight (InFlight marks them): a Ring runs one read at a
    // time, and a file's Ring one op at a time — a second one, or a seek, would race the
    // first for the buffer or the position. Relaxed: the Ring's user orders its own calls.
    // One flag each (a socket's Ring may read on one thread and write on another): plain stores.
    enum Busy : std::uint8_t { reading = 0, writing = 1 };
    [[nodiscard, gnu::always_inline]] inline bool busy(Busy what) const noexcept {
        return busy_[what].load(std::memory_order_relaxed);
    }
    [[nodiscard, gnu::always_inline]] inline bool busy() const noexcept { return busy(reading) || busy(writing); }

    // Nothing kept and no deposit coming (acquire: pairs with deposit's release).
    [[nodiscard, gnu::always_inline]] inline bool quiet() const noexcept {
        return pending_.load(std::memory_order_acquire) == 0 &&
               !has_kept_.load(std::memory_order_acquire);
    }

    [[gnu::always_inline]] inline void begin_op(Busy what) noexcept {
        busy_[what].store(true, std::memory_order_relaxed);
    }
    // An op of the Ring ended (InFlight). If the Ring went first, the rescue kept itself
    // alive for its ops (orphan): the last one to end lets it go — `this` may be gone after.
    [[gnu::always_inline]] inline void end_op(Busy what) noexcept {
        busy_[what].store(false, std::memory_order_relaxed);
        if (keep_alive_) [[unlikely]]
            release_if_idle();
    }
    // The Ring goes away (destroyed, or assigned over) while an op of it is in flight: that op
    // refers to the rescue by a plain pointer, so the rescue keeps itself until the op ends.
    static void orphan(std::shared_ptr<ReadRescue> self) noexcept {
        ReadRescue* r = self.get();
        if (r != nullptr && r->busy()) r->keep_alive_ = std::move(self);
    }
    // A shared reference for an op's Cancellation, which outlives the op (and maybe the Ring).
    [[nodiscard]] std::shared_ptr<ReadRescue> share() noexcept {
        if (keep_alive_) return keep_alive_;
        return this->shared_from_this();
    }

  private:
    [[gnu::noinline]] void release_if_idle() noexcept {
        if (busy()) return;
        std::shared_ptr<ReadRescue> last = std::move(keep_alive_);
    } // `last` may be the only reference: the rescue is destroyed here

    std::atomic<bool> busy_[2]{};
    std::shared_ptr<ReadRescue> keep_alive_; // set only while orphaned with an op in flight
    std::mutex mutex_;
    // Written under the lock; read without it on the owner's fast path.
    std::atomic<std::uint32_t> pending_{0};
    std::atomic<bool> has_kept_{false};
    bool stale_ = false;
    std::optional<Lease> kept_;
    std::uint32_t bytes_ = 0;
    std::coroutine_handle<> waiter_{};
    std::optional<Poster> poster_;
    std::vector<std::byte> front_;
    std::size_t front_pos_ = 0;
    std::uint64_t epoch_ = 0; // the owner's alone
};

// One op of a Ring in flight, for as long as it lives: marks the rescue busy (reading or
// writing). A read op's event holds one (Rescued), so the mark lasts exactly as long as the op —
// through completion, or until its Cancellation takes a share of the rescue (release). A plain
// pointer: while an op is in flight the rescue lives, through the Ring or, once the Ring is
// gone, through itself (ReadRescue::orphan) — no reference count per op.
template <class Lease>
class InFlight {
    using Rescue = ReadRescue<Lease>;

  public:
    [[gnu::always_inline]] inline InFlight(const std::shared_ptr<Rescue>& r,
                                           typename Rescue::Busy what = Rescue::reading) noexcept
        : r_(r.get()), what_(what) {
        r_->begin_op(what_);
    }
    [[gnu::always_inline]] inline InFlight(InFlight&& o) noexcept
        : r_(std::exchange(o.r_, nullptr)), what_(o.what_) {}
    InFlight& operator=(InFlight&& o) noexcept {
        if (this != &o) {
            clear();
            r_ = std::exchange(o.r_, nullptr);
            what_ = o.what_;
        }
        return *this;
    }
    [[gnu::always_inline]] inline ~InFlight() { clear(); }

    [[nodiscard]] inline Rescue* operator->() const noexcept { return r_; }
    [[nodiscard]] inline explicit operator bool() const noexcept { return r_ != nullptr; }
    // The op was abandoned: no longer the Ring's op in flight; its Cancellation gets a share.
    [[nodiscard]] inline std::shared_ptr<Rescue> release() && noexcept {
        Rescue* r = std::exchange(r_, nullptr);
        std::shared_ptr<Rescue> shared = r->share();
        r->end_op(what_);
        return shared;
    }

  private:
    [[gnu::always_inline]] inline void clear() noexcept {
        if (r_) std::exchange(r_, nullptr)->end_op(what_);
    }

    Rescue* r_;
    typename Rescue::Busy what_;
};

// The Ring's reference to its rescue: going away with an op in flight, it leaves the rescue
// keeping itself (ReadRescue::orphan) for that op.
template <class Lease>
class RescueOwner {
    using Rescue = ReadRescue<Lease>;

  public:
    RescueOwner() : p_(std::make_shared<Rescue>()) {}
    RescueOwner(RescueOwner&&) noexcept = default;
    RescueOwner& operator=(RescueOwner&& o) noexcept {
        if (this != &o) {
            Rescue::orphan(std::move(p_));
            p_ = std::move(o.p_);
        }
        return *this;
    }
    ~RescueOwner() { Rescue::orphan(std::move(p_)); }

    [[nodiscard, gnu::always_inline]] inline Rescue* operator->() const noexcept { return p_.get(); }
    [[nodiscard, gnu::always_inline]] inline Rescue* get() const noexcept { return p_.get(); }
    // False once moved from: the Ring it belonged to holds nothing.
    [[nodiscard, gnu::always_inline]] inline explicit operator bool() const noexcept { return p_ != nullptr; }
    [[nodiscard, gnu::always_inline]] inline const std::shared_ptr<Rescue>& shared() const noexcept { return p_; }

  private:
    std::shared_ptr<Rescue> p_;
};

// A Ring read that returned into a when_any / when_all branch: its bytes are already copied
// out and consumed, but the caller has them only once it takes the branch's value. If the
// value is dropped instead (the awaiting coroutine destroyed before the race settled), the
// bytes go back in front of the Ring's, so no read loses them. `bytes` is the caller's span:
// valid until the read's Task is destroyed, which is no earlier than this runs.
template <class Lease>
void put_back_if_dropped(StopScope& scope, std::shared_ptr<ReadRescue<Lease>> rescue,
                         std::span<const std::byte> bytes) {
    struct Record {
        std::shared_ptr<ReadRescue<Lease>> rescue;
        std::span<const std::byte> bytes;
        std::uint64_t epoch;
        static void settle(void* p, bool dropped) noexcept {
            auto* self = static_cast<Record*>(p);
            // A seek, a write or a close since: the bytes' place in the file is gone.
            if (dropped && self->rescue->epoch() == self->epoch) self->rescue->put_back(self->bytes);
            delete self;
        }
    };
    const std::uint64_t epoch = rescue->epoch();
    scope.on_drop(new Record{std::move(rescue), bytes, epoch}, &Record::settle);
}

// A Ring's read event, whose cancellation deposits into the Ring's ReadRescue instead of only
// freeing the buffer. Everything else is the inner event's.
template <Event E, class Lease>
struct Rescued {
    E inner;
    // Shared: the frame awaiting this read may be destroyed after the Ring is (its
    // Cancellation then still deposits into live memory). Marks the Ring reading meanwhile.
    InFlight<Lease> rescue;

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return inner.sqes_needed(); }
    inline void prepare(const PrepareKey& key, std::span<::io_uring_sqe> sqes) noexcept {
        inner.prepare(key, sqes);
    }
    [[nodiscard]] inline Result<std::uint32_t> finish(std::int32_t res, std::uint32_t flags) noexcept
        requires FinishesResult<E>
    {
        return inner.finish(res, flags);
    }
    [[nodiscard]] inline auto output(Result<std::uint32_t> r) && noexcept
        requires HasOutput<E>
    {
        return std::move(inner).output(std::move(r));
    }
    [[nodiscard]] inline Cancellation cancel() && noexcept {
        rescue->expect();
        if constexpr (requires { inner.buf; }) {
            return Cancellation{[r = std::move(rescue).release(), buf = std::move(inner.buf)](
                                    std::int32_t res, std::uint32_t) mutable noexcept {
                r->deposit(std::optional<Lease>(std::move(buf)), res);
            }};
        } else { // the kernel picked a provided buffer: the CQE's flags say which
            return Cancellation{[r = std::move(rescue).release(), ring = std::move(inner.ring)](
                                    std::int32_t res, std::uint32_t flags) noexcept {
                std::optional<Lease> lease;
                if ((flags & IORING_CQE_F_BUFFER) && ring)
                    lease.emplace(ring->lease(detail::CqeBufferKeyMaker::make(),
                                              flags >> IORING_CQE_BUFFER_SHIFT,
                                              res > 0 ? std::size_t(res) : 0));
                r->deposit(std::move(lease), res);
            }};
        }
    }
};

} // namespace ringbahn::detail
