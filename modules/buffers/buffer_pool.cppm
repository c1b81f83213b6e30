// SPDX-License-Identifier: MIT
// ringbahn:buffers.buffer_pool — fixed-size buffers leased from one slab; waits or fails when empty.
module;
#include <sys/mman.h>
#include <sys/uio.h>
#include <atomic>
#include <cerrno>
#include <expected>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <climits>
#include <memory>
#include <mutex> // lock_guard, unique_lock
#include <new>
#include <optional>
#include <span>
#include <utility>
#include <vector>
export module ringbahn:buffers.buffer_pool;
import :buffers.buffer;
import :detail.spin_lock;
import :drive.drive;
import :protocol.error;
import :await.stop_scope;
import :drive.poster;

namespace ringbahn {

export enum class WhenEmpty : std::uint8_t {
    wait, // acquiring suspends until a lease comes back (backpressure)
    fail, // acquiring gives Errc::pool_exhausted at once
};

export class BufferPool;

// One buffer of a pool. Move-only; destroying it returns the buffer (thread-safe). It keeps
// the pool alive, so a lease held by a Cancellation keeps the memory the kernel may still
// write into allocated, whatever happened to the pool's other owners: while any lease is out
// the pool holds a reference to itself (taken by the first lease, dropped by the last), so a
// lease is a plain pointer and moving or returning one costs no reference count.
export class PoolLease {
  public:
    static constexpr bool owns_stable_bytes = true; // OwnedBuffer: the bytes are in the slab
    [[gnu::always_inline]] inline PoolLease(PoolLease&& o) noexcept
        : pool_(std::exchange(o.pool_, nullptr)), data_(o.data_), size_(o.size_), index_(o.index_) {}
    inline PoolLease& operator=(PoolLease&& o) noexcept {
        if (this != &o) {
            give_back();
            pool_ = std::exchange(o.pool_, nullptr);
            data_ = o.data_;
            size_ = o.size_;
            index_ = o.index_;
        }
        return *this;
    }
    [[gnu::always_inline]] inline ~PoolLease() { give_back(); }

    [[nodiscard]] inline std::byte* data() noexcept { return data_; }
    [[nodiscard]] inline const std::byte* data() const noexcept { return data_; }
    [[nodiscard]] inline std::size_t size() const noexcept { return size_; }
    [[nodiscard]] inline std::byte* begin() noexcept { return data_; }
    [[nodiscard]] inline std::byte* end() noexcept { return data_ + size_; }
    [[nodiscard]] inline const std::byte* begin() const noexcept { return data_; }
    [[nodiscard]] inline const std::byte* end() const noexcept { return data_ + size_; }
    // The registered-buffer index (meaningful when the pool is registered with a ring).
    [[nodiscard]] inline std::uint16_t buffer_index() const noexcept { return index_; }

  private:
    friend class BufferPool;
    inline PoolLease(BufferPool* pool, std::byte* data, std::size_t size,
              std::uint16_t index) noexcept
        : pool_(pool), data_(data), size_(size), index_(index) {}
    inline void give_back() noexcept;

    BufferPool* pool_; // alive while this lease is out (the pool's self-reference)
    std::byte* data_ = nullptr;
    std::size_t size_ = 0;
    std::uint16_t index_ = 0;
};

export class BufferPool : public std::enable_shared_from_this<BufferPool> {
    struct Private {};

  public:
    // count buffers of `size` bytes in one page-aligned slab (registrable as-is).
    [[nodiscard]] static Result<std::shared_ptr<BufferPool>> create(std::uint16_t count,
                                                                    std::size_t size,
                                                                    WhenEmpty when_empty) {
        if (count == 0 || size == 0) return std::unexpected(errno_code(EINVAL));
        // count × size must not wrap: a wrapped product maps a few bytes and leases past them.
        if (size > PTRDIFF_MAX / count) return std::unexpected(errno_code(EOVERFLOW));
        void* slab = ::mmap(nullptr, std::size_t(count) * size, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (slab == MAP_FAILED) return std::unexpected(errno_code(errno));
        return std::make_shared<BufferPool>(Private{}, static_cast<std::byte*>(slab), count, size,
                                            when_empty);
    }

    BufferPool(Private, std::byte* slab, std::uint16_t count, std::size_t size, WhenEmpty mode)
        : slab_(slab), count_(count), size_(size), mode_(mode),
          free_(std::make_unique<std::uint16_t[]>(count)), free_count_(count) {
        for (std::uint16_t i = 0; i < count; ++i) free_[i] = std::uint16_t(count - 1 - i);
    }
    BufferPool(const BufferPool&) = delete;
    BufferPool& operator=(const BufferPool&) = delete;
    ~BufferPool() { ::munmap(slab_, std::size_t(count_) * size_); }

    // Waits (or fails, per WhenEmpty) for a buffer. A returned buffer is handed to the oldest
    // waiter and its resumption posted to the waiter's driver (never run inline by whoever
    // returned the lease: that may be a destructor, or a driver's teardown). Destroying the
    // awaiter while it waits withdraws it; a lease already handed to it goes back to the pool.
    // Asked to stop while it waits (a when_any loser), it withdraws and resumes with
    // std::errc::operation_canceled — unless a lease was handed to it first: then it has it.
    class [[nodiscard]] Acquire {
      public:
        // Holds the pool: an awaiter may outlive every other owner of it.
        inline Acquire(std::shared_ptr<BufferPool> pool, Poster waker) noexcept
            : pool_(std::move(pool)), waker_(waker) {}
        // Moved once awaited (parked in the pool's queue, through a pointer from elsewhere): the
        // parked one keeps its place and its pool; the new one has none (awaiting it: EINVAL).
        inline Acquire(Acquire&& o) noexcept
            : pool_(o.parked_ ? nullptr : std::move(o.pool_)), waker_(o.waker_) {}
        Acquire(const Acquire&) = delete;
        inline ~Acquire() {
            if (!parked_) [[likely]]
                return; // took a buffer at once, or failed: nothing to undo
            if (scope_) scope_->detach(); // no stop reaches us from here on
            if (waiting_) (void)pool_->withdraw(*this);
            if (posted_) waker_.unpost(continuation_); // result_'s lease returns with us
        }
        inline bool await_ready() {
            if (!pool_) [[unlikely]] { // a policy made from a null pool
                result_.emplace(std::unexpected(errno_code(EINVAL)));
                return true;
            }
            return pool_->try_take(result_);
        }
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) {
            parked_ = true;
            StopScope* scope = stop_scope_of(h);
            if (scope == nullptr) return pool_->park(*this, h);
            bool parked = false;
            // Under the scope's lock: a stop request sees us either not yet parked (then we
            // do not park) or parked (then on_stop withdraws us).
            if (!scope->attach_then(this, &Acquire::on_stop, [&] { parked = pool_->park(*this, h); })) {
                result_.emplace(std::unexpected(std::make_error_code(std::errc::operation_canceled)));
                return false;
            }
            if (!parked) scope->detach(); // a buffer was free after all
            else scope_ = scope;
            return parked;
        }
        inline Result<PoolLease> await_resume() {
            if (scope_) std::exchange(scope_, nullptr)->detach();
            posted_ = false;
            return std::move(*result_);
        }

      private:
        friend class BufferPool;
        // Under the scope's lock: still queued → withdraw and resume with ECANCELED; already
        // handed a lease (give_back posted us) → nothing to do, we keep it.
        static void on_stop(void* leaf) noexcept {
            auto& self = *static_cast<Acquire*>(leaf);
            if (!self.pool_->withdraw(self)) return;
            self.result_.emplace(std::unexpected(std::make_error_code(std::errc::operation_canceled)));
            self.posted_ = true;
            self.waker_.post(self.continuation_);
        }
        StopScope* scope_ = nullptr;
        std::shared_ptr<BufferPool> pool_;
        std::optional<Result<PoolLease>> result_;
        std::coroutine_handle<> continuation_;
        Poster waker_;
        Acquire* next_ = nullptr;
        bool waiting_ = false;
        bool posted_ = false;
        bool parked_ = false; // await_suspend ran: a scope, a queue entry or a posting to undo
    };

    [[nodiscard]] inline Acquire acquire(Poster waker) { return Acquire(shared_from_this(), waker); }
    // A lease now, the exhaustion error (WhenEmpty::fail), or nullopt where acquire() would wait.
    [[nodiscard]] std::optional<Result<PoolLease>> try_lease() {
        std::optional<Result<PoolLease>> r;
        (void)try_take(r);
        return r;
    }
    // A lease into `slot` (empty) if one is free now; false otherwise — acquire() then waits or
    // fails. Inlined into a Ring's read: a pop under the spinlock, the lease built in place.
    [[nodiscard, gnu::always_inline]] inline bool lease_into(std::optional<PoolLease>& slot) {
        list_lock_.lock();
        if (free_count_ == 0) [[unlikely]] {
            list_lock_.unlock();
            return false;
        }
        slot.emplace(take_locked_then_unlock());
        return true;
    }
    // A lease now, or the exhaustion error (whatever the WhenEmpty mode).
    [[nodiscard]] Result<PoolLease> try_acquire() {
        std::optional<Result<PoolLease>> r = try_lease();
        if (!r) return std::unexpected(make_error_code(Errc::pool_exhausted));
        return std::move(*r);
    }

    [[nodiscard]] std::size_t available() const {
        std::lock_guard lock(list_lock_);
        return free_count_;
    }
    [[nodiscard]] std::uint16_t capacity() const noexcept { return count_; }
    [[nodiscard]] std::size_t buffer_size() const noexcept { return size_; }
    // The slab as one iovec per buffer, in index order: what io_uring_register_buffers takes.
    [[nodiscard]] std::vector<::iovec> iovecs() const {
        std::vector<::iovec> v(count_);
        for (std::uint16_t i = 0; i < count_; ++i) v[i] = {address_of(i), size_};
        return v;
    }

  private:
    friend class PoolLease;

    // Under the lock, a free buffer leaves the list as a lease, and the lock is released: the
    // first lease out takes the pool's self-reference (after the unlock: it counts references).
    [[gnu::always_inline]] inline PoolLease take_locked_then_unlock() {
        const std::uint16_t i = free_[--free_count_];
        const bool first = out_++ == 0;
        list_lock_.unlock();
        if (first) [[unlikely]]
            take_self();
        return lease_at(i);
    }
    // The first lease out. A last lease coming back meanwhile (another thread) drops a
    // reference taken here only after this store: both are under the lock.
    [[gnu::noinline]] void take_self() {
        std::shared_ptr<BufferPool> self = shared_from_this();
        std::lock_guard lock(list_lock_);
        if (out_ != 0 && !self_) self_ = std::move(self);
    }
    inline PoolLease lease_at(std::uint16_t i) noexcept { return PoolLease(this, address_of(i), size_, i); }
    [[nodiscard]] inline std::byte* address_of(std::uint16_t i) const noexcept {
        return slab_ + std::size_t(i) * size_;
    }

    // Ready now: a free buffer, or (fail mode) the exhaustion error.
    inline bool try_take(std::optional<Result<PoolLease>>& out) {
        list_lock_.lock();
        if (free_count_ != 0) [[likely]] {
            out.emplace(take_locked_then_unlock());
            return true;
        }
        std::unique_lock lock(list_lock_, std::adopt_lock);
        if (mode_ == WhenEmpty::fail) {
            out.emplace(std::unexpected(make_error_code(Errc::pool_exhausted)));
            return true;
        }
        return false;
    }

    // Queue `a`; false if a buffer came back meanwhile (then `a` has it: do not suspend).
    bool park(Acquire& a, std::coroutine_handle<> h) {
        list_lock_.lock();
        if (free_count_ != 0) {
            a.result_.emplace(take_locked_then_unlock());
            return false;
        }
        std::unique_lock lock(list_lock_, std::adopt_lock);
        a.continuation_ = h;
        a.waiting_ = true;
        a.next_ = nullptr;
        (tail_ ? tail_->next_ : head_) = &a;
        tail_ = &a;
        return true;
    }

    // Whether `a` was still queued (then it is not any more).
    bool withdraw(Acquire& a) noexcept {
        std::lock_guard lock(list_lock_);
        Acquire** link = &head_;
        Acquire* prev = nullptr;
        while (*link && *link != &a) {
            prev = *link;
            link = &(*link)->next_;
        }
        if (!*link) return false;
        *link = a.next_;
        if (tail_ == &a) tail_ = prev;
        a.waiting_ = false;
        return true;
    }

    // A lease came back: hand it to the oldest waiter (resumed by its driver), or free it.
    // The lease stays out when it goes to a waiter; the last one back drops the self-reference
    // (after the lock: that may destroy the pool).
    [[gnu::always_inline]] inline void give_back(std::uint16_t i) noexcept {
        list_lock_.lock();
        if (head_ == nullptr && out_ != 1) [[likely]] {
            free_[free_count_++] = i; // room for every buffer: cannot overflow
            --out_;
            list_lock_.unlock();
            return;
        }
        give_back_locked(i);
    }
    // A waiter to hand the lease to, or the last lease back.
    [[gnu::noinline]] void give_back_locked(std::uint16_t i) noexcept {
        Acquire* a = head_;
        if (!a) {
            free_[free_count_++] = i;
            --out_;
            if (!self_) { // take_self has not stored it yet: it sees out_ == 0 and will not
                list_lock_.unlock();
                return;
            }
            return drop_self_and_unlock();
        }
        head_ = a->next_;
        if (!head_) tail_ = nullptr;
        a->waiting_ = false;
        a->posted_ = true;
        list_lock_.unlock();
        a->result_.emplace(lease_at(i)); // still out: passed on, not counted again
        a->waker_.post(a->continuation_);
    }
    [[gnu::noinline]] void drop_self_and_unlock() noexcept {
        std::shared_ptr<BufferPool> self = std::move(self_);
        list_lock_.unlock();
    } // `self` may be the last owner: the pool is destroyed here, after the unlock

    // Held for a push or a pop of an index (or a waiter link): a spinlock, not a mutex, whose
    // lock and unlock cost more than everything they would guard.
    mutable detail::SpinLock list_lock_;
    std::byte* slab_;
    std::uint16_t count_;
    std::size_t size_;
    WhenEmpty mode_;
    std::unique_ptr<std::uint16_t[]> free_; // free buffer indexes: a stack, room for all
    std::uint32_t free_count_;
    Acquire* head_ = nullptr; // waiters, FIFO
    Acquire* tail_ = nullptr;
    std::uint32_t out_ = 0;                // leases out (under the lock)
    std::shared_ptr<BufferPool> self_;     // held while out_ > 0
};

[[gnu::always_inline]] inline void PoolLease::give_back() noexcept {
    if (!pool_) return;
    std::exchange(pool_, nullptr)->give_back(index_);
}

static_assert(FixedBuffer<PoolLease>);

} // namespace ringbahn
