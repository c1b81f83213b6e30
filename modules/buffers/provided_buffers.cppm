// SPDX-License-Identifier: MIT
// ringbahn:buffers.provided_buffers — a provided-buffer ring: buffers the kernel picks from when data arrives.
module;
#include <liburing.h>
#include <sys/mman.h>
#include <atomic>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>
export module ringbahn:buffers.provided_buffers;
import :drive.drive;
import :protocol.error;
import :await.stop_scope;
import :drive.poster;

namespace ringbahn {

export class ProvidedBuffers;

namespace detail {
struct CqeBufferKeyMaker; // not exported: code outside the module cannot name it
}

// The right to turn a CQE's buffer id into a lease (or to put it back). Only the events that
// read IORING_CQE_F_BUFFER can make one: a user who named an id by hand could take a buffer the
// kernel still owns (and later put it in the ring twice).
export class CqeBufferKey {
  public:
    CqeBufferKey(const CqeBufferKey&) = delete;
    CqeBufferKey& operator=(const CqeBufferKey&) = delete;

  private:
    CqeBufferKey() = default;
    friend struct detail::CqeBufferKeyMaker;
};

namespace detail {
struct CqeBufferKeyMaker {
    static inline CqeBufferKey make() noexcept { return CqeBufferKey{}; }
};
} // namespace detail

// One buffer of a ProvidedBuffers, lent out: the bytes a read or recv put there (size() is how
// many). Destroying it puts the buffer back in the ring for the kernel to fill again — also
// from a Cancellation, after the CQE of an op whose awaiter went away. A lease can also own
// plain heap bytes (a Ring's write buffer under policies::Provided: the kernel only picks
// buffers for reads).
export class ProvidedLease {
  public:
    static constexpr bool owns_stable_bytes = true; // OwnedBuffer: ring slab or heap bytes
    ProvidedLease(ProvidedLease&& o) noexcept
        : ring_(std::move(o.ring_)), heap_(std::move(o.heap_)), data_(o.data_), size_(o.size_),
          id_(std::exchange(o.id_, -1)) {}
    ProvidedLease& operator=(ProvidedLease&& o) noexcept {
        if (this != &o) {
            give_back();
            ring_ = std::move(o.ring_);
            heap_ = std::move(o.heap_);
            data_ = o.data_;
            size_ = o.size_;
            id_ = std::exchange(o.id_, -1);
        }
        return *this;
    }
    inline ~ProvidedLease() { give_back(); }

    // Heap bytes, not from a ring.
    static ProvidedLease heap(std::size_t size) {
        ProvidedLease l(nullptr, nullptr, size, -1);
        l.heap_ = std::make_unique_for_overwrite<std::byte[]>(size);
        l.data_ = l.heap_.get();
        return l;
    }

    [[nodiscard]] std::byte* data() noexcept { return data_; }
    [[nodiscard]] const std::byte* data() const noexcept { return data_; }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] std::byte* begin() noexcept { return data_; }
    [[nodiscard]] std::byte* end() noexcept { return data_ + size_; }
    [[nodiscard]] const std::byte* begin() const noexcept { return data_; }
    [[nodiscard]] const std::byte* end() const noexcept { return data_ + size_; }
    // The buffer id in its ring, -1 for heap bytes.
    [[nodiscard]] int buffer_id() const noexcept { return id_; }

  private:
    friend class ProvidedBuffers;
    ProvidedLease(std::shared_ptr<ProvidedBuffers> ring, std::byte* data, std::size_t size, int id) noexcept
        : ring_(std::move(ring)), data_(data), size_(size), id_(id) {}
    inline void give_back() noexcept;

    std::shared_ptr<ProvidedBuffers> ring_;
    std::unique_ptr<std::byte[]> heap_;
    std::byte* data_ = nullptr;
    std::size_t size_ = 0;
    int id_ = -1;
};

// `count` buffers of `size` bytes in one mapping, and the io_uring_buf_ring that offers them to
// the kernel under group id `group` (io_uring_register_buf_ring, 5.19). Ops with
// IOSQE_BUFFER_SELECT take a buffer only when data arrives, so a connection waiting for data
// holds none. When all are taken the op fails with ENOBUFS (a multishot stream waits for one to
// come back, then re-arms). Registered with one driver, whose ring keeps it alive until the
// ring is closed. Buffers are returned by any thread (a lock guards the ring's tail).
export class ProvidedBuffers : public std::enable_shared_from_this<ProvidedBuffers> {
  public:
    // count: a power of two ≤ 32768.
    template <class D>
    [[nodiscard]] static Result<std::shared_ptr<ProvidedBuffers>> create(D& driver, std::uint32_t count,
                                                                    std::uint32_t size,
                                                                    std::uint16_t group = 0) {
        if (count == 0 || count > 32768 || (count & (count - 1)) != 0 || size == 0)
            return std::unexpected(errno_code(EINVAL));
        auto ring = std::shared_ptr<ProvidedBuffers>(new ProvidedBuffers(count, size, group));
        if (ring->map_ == nullptr) return std::unexpected(errno_code(ENOMEM));
        auto registered = driver.register_buf_ring(ring->entries_, count, group, ring);
        if (!registered) return std::unexpected(registered.error());
        ring->driver_ = driver.liveness().id();
        return ring;
    }
    ProvidedBuffers(const ProvidedBuffers&) = delete;
    ProvidedBuffers& operator=(const ProvidedBuffers&) = delete;
    inline ~ProvidedBuffers() {
        if (map_) ::munmap(map_, map_size_);
    }

    [[nodiscard]] std::uint16_t group() const noexcept { return group_; }
    // Whether the ring is registered with this driver (a PrepareKey's driver()): an op on
    // another driver would take that driver's buffer of the same group and id, and lend ours.
    [[nodiscard]] inline bool registered_with(std::uint64_t driver) const noexcept {
        return driver == driver_;
    }
    [[nodiscard]] std::uint32_t buffer_size() const noexcept { return size_; }
    [[nodiscard]] std::uint32_t count() const noexcept { return count_; }
    // Buffers in the ring, not lent out (what the kernel can still pick from).
    [[nodiscard]] std::uint32_t available() const noexcept {
        return available_.load(std::memory_order_acquire);
    }

    // A CQE said the kernel filled buffer `id` with `bytes`: lend it out. An id this ring does
    // not have (a CQE from another ring's group of the same number: the ProvidedBuffers used on a
    // driver it is not registered with) gives an empty lease and touches nothing.
    [[nodiscard]] inline ProvidedLease lease(const CqeBufferKey&, std::uint32_t id,
                                             std::size_t bytes) noexcept {
        if (id >= count_ || bytes > size_) [[unlikely]]
            return ProvidedLease(nullptr, nullptr, 0, -1);
        available_.fetch_sub(1, std::memory_order_acq_rel);
        return ProvidedLease(shared_from_this(), slab_ + std::size_t(id) * size_, bytes, int(id));
    }
    // A CQE took buffer `id` but nobody will see it (a cancelled op): put it straight back.
    inline void reclaim(const CqeBufferKey&, std::uint32_t id) noexcept {
        if (id >= count_) [[unlikely]]
            return; // not ours (see lease())
        available_.fetch_sub(1, std::memory_order_acq_rel);
        give_back(id);
    }

    // Awaitable: ready once a buffer is back in the ring; resumed through the waiter's driver.
    // Asked to stop while it waits (a when_any loser), it stops waiting and resumes at once:
    // the caller sees the stop request.
    class WhenAvailable {
      public:
        WhenAvailable(ProvidedBuffers& ring, Poster poster) noexcept : ring_(&ring), poster_(poster) {}
        WhenAvailable(const WhenAvailable&) = delete;
        ~WhenAvailable() {
            if (scope_) scope_->detach();
            if (!waiting_) return;
            {
                std::lock_guard lock(ring_->mutex_);
                std::erase_if(ring_->waiters_, [&](const Waiter& w) { return w.handle == handle_; });
            }
            poster_.unpost(handle_);
        }
        bool await_ready() const noexcept { return ring_->available() > 0; }
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) {
            StopScope* scope = stop_scope_of(h);
            bool parked = false;
            const auto park = [&] {
                std::lock_guard lock(ring_->mutex_);
                if (ring_->available() > 0) return;
                handle_ = h;
                waiting_ = parked = true;
                ring_->waiters_.push_back({h, poster_});
            };
            if (scope == nullptr) {
                park();
                return parked;
            }
            if (!scope->attach_then(this, &WhenAvailable::on_stop, park)) return false; // stopped
            if (parked) scope_ = scope;
            else scope->detach();
            return parked;
        }
        void await_resume() noexcept {
            if (scope_) std::exchange(scope_, nullptr)->detach();
            waiting_ = false;
        }

      private:
        // Under the scope's lock: if still queued, leave the queue and resume through the driver.
        static void on_stop(void* leaf) noexcept {
            auto& self = *static_cast<WhenAvailable*>(leaf);
            {
                std::lock_guard lock(self.ring_->mutex_);
                const auto n = std::erase_if(self.ring_->waiters_,
                                             [&](const Waiter& w) { return w.handle == self.handle_; });
                if (n == 0) return; // a buffer came back: give_back posted us already
            }
            self.poster_.post(self.handle_);
        }
        ProvidedBuffers* ring_;
        Poster poster_;
        std::coroutine_handle<> handle_;
        StopScope* scope_ = nullptr;
        bool waiting_ = false;
    };
    [[nodiscard]] WhenAvailable when_available(Poster poster) noexcept { return {*this, poster}; }

  private:
    friend class ProvidedLease;
    struct Waiter {
        std::coroutine_handle<> handle;
        Poster poster;
    };

    ProvidedBuffers(std::uint32_t count, std::uint32_t size, std::uint16_t group)
        : count_(count), size_(size), group_(group), available_(count) {
        const std::size_t ring_bytes = std::size_t(count) * sizeof(::io_uring_buf);
        ring_bytes_ = (ring_bytes + 4095) & ~std::size_t{4095};
        map_size_ = ring_bytes_ + std::size_t(count) * size;
        void* m = ::mmap(nullptr, map_size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) return;
        map_ = m;
        entries_ = static_cast<::io_uring_buf_ring*>(m);
        slab_ = static_cast<std::byte*>(m) + ring_bytes_;
        for (std::uint32_t id = 0; id < count; ++id) put(id);
        publish();
    }

    // io_uring_buf_ring_add + _advance, written out (liburing 2.3's are static inline).
    inline void put(std::uint32_t id) noexcept {
        ::io_uring_buf& b = entries_->bufs[tail_ & (count_ - 1)];
        b.addr = reinterpret_cast<std::uintptr_t>(slab_ + std::size_t(id) * size_);
        b.len = size_;
        b.bid = static_cast<std::uint16_t>(id);
        ++tail_;
    }
    inline void publish() noexcept {
        std::atomic_ref<std::uint16_t>(entries_->tail).store(tail_, std::memory_order_release);
    }
    inline void give_back(std::uint32_t id) noexcept {
        std::vector<Waiter> woken;
        {
            std::lock_guard lock(mutex_);
            put(id);
            publish();
            available_.fetch_add(1, std::memory_order_acq_rel);
            woken.swap(waiters_);
        }
        for (auto& w : woken) w.poster.post(w.handle);
    }

    std::uint32_t count_, size_;
    std::uint16_t group_;
    std::uint64_t driver_ = 0; // the Liveness id of the driver it is registered with
    std::atomic<std::uint32_t> available_;
    void* map_ = nullptr;
    std::size_t map_size_ = 0, ring_bytes_ = 0;
    ::io_uring_buf_ring* entries_ = nullptr;
    std::byte* slab_ = nullptr;
    std::uint16_t tail_ = 0;
    std::mutex mutex_;
    std::vector<Waiter> waiters_;
};

inline void ProvidedLease::give_back() noexcept {
    if (id_ >= 0 && ring_) ring_->give_back(static_cast<std::uint32_t>(std::exchange(id_, -1)));
}

} // namespace ringbahn
