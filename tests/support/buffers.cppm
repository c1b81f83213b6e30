// SPDX-License-Identifier: MIT
// TrackedBuffer: the one test buffer. An OwnedBuffer (heap bytes, moved by pointer) that tells
// its BufferLedger when it is made and when its storage is freed — exactly once, by whoever owns
// it last: the caller, the event, or a Cancellation. The ledger decides what a free does:
//   * OnFree::release: back to the heap at once. Tests count frees (freed(), wait_for_frees()
//     from another thread) to see that a buffer went exactly once, and not while the kernel
//     still owned it.
//   * OnFree::quarantine: the bytes are filled with a poison pattern and kept until
//     verify_and_release(), called when the kernel is done with them (the driver idle or gone):
//     a write after the free — the kernel writing into memory it no longer owns — breaks the
//     pattern and counts in corrupted(). The torture test and the ops fuzzer use this.
module;
#include <atomic>
#include <cstddef>
#include <cstring>
#include <mutex>
#include <utility>
#include <vector>

export module ringbahn.test_support:buffers;

import ringbahn;

export namespace test {

enum class OnFree { release, quarantine };

class BufferLedger {
  public:
    BufferLedger() = default;
    explicit BufferLedger(OnFree on_free, std::byte poison = std::byte{0xA5})
        : on_free_(on_free), poison_(poison) {}
    BufferLedger(const BufferLedger&) = delete;
    BufferLedger& operator=(const BufferLedger&) = delete;
    ~BufferLedger() { verify_and_release(); }

    [[nodiscard]] long allocated() const noexcept { return allocated_.load(std::memory_order_acquire); }
    [[nodiscard]] long freed() const noexcept { return freed_.load(std::memory_order_acquire); }
    // Quarantined buffers found written after their free (by verify_and_release, so far).
    [[nodiscard]] long corrupted() const noexcept { return corrupted_.load(std::memory_order_acquire); }
    // Blocks until n buffers have been freed (by any thread).
    void wait_for_frees(long n) const noexcept {
        for (long c = freed(); c < n; c = freed()) freed_.wait(c, std::memory_order_acquire);
    }
    // The kernel is done with everything freed so far: check each quarantined buffer's pattern,
    // then really free it. Returns how many of them were corrupted.
    long verify_and_release() noexcept {
        std::vector<std::pair<std::byte*, std::size_t>> held;
        {
            std::lock_guard lock(quarantine_lock_);
            held.swap(quarantine_);
        }
        long bad = 0;
        for (auto [p, n] : held) {
            for (std::size_t i = 0; i < n; ++i)
                if (p[i] != poison_) {
                    ++bad;
                    break;
                }
            delete[] p;
        }
        corrupted_.fetch_add(bad, std::memory_order_acq_rel);
        return bad;
    }

    // TrackedBuffer's side.
    std::byte* allocate(std::size_t n) {
        auto* p = new std::byte[n]();
        allocated_.fetch_add(1, std::memory_order_acq_rel);
        return p;
    }
    void release(std::byte* p, std::size_t n) noexcept {
        if (on_free_ == OnFree::quarantine) {
            std::memset(p, int(poison_), n);
            std::lock_guard lock(quarantine_lock_);
            quarantine_.emplace_back(p, n);
        } else {
            delete[] p;
        }
        freed_.fetch_add(1, std::memory_order_acq_rel);
        freed_.notify_all();
    }

  private:
    OnFree on_free_ = OnFree::release;
    std::byte poison_{0xA5};
    std::atomic<long> allocated_{0}, freed_{0}, corrupted_{0};
    std::mutex quarantine_lock_;
    std::vector<std::pair<std::byte*, std::size_t>> quarantine_;
};

// n zeroed heap bytes, accounted to a ledger that must outlive the buffer (and, in quarantine
// mode, the kernel's use of it).
class TrackedBuffer {
  public:
    static constexpr bool owns_stable_bytes = true; // OwnedBuffer: heap bytes, moved by pointer
    TrackedBuffer(std::size_t size, BufferLedger& ledger)
        : data_(ledger.allocate(size)), size_(size), ledger_(&ledger) {}
    TrackedBuffer(TrackedBuffer&& o) noexcept
        : data_(std::exchange(o.data_, nullptr)), size_(o.size_), ledger_(o.ledger_) {}
    TrackedBuffer& operator=(TrackedBuffer&& o) noexcept {
        if (this != &o) {
            release();
            data_ = std::exchange(o.data_, nullptr);
            size_ = o.size_;
            ledger_ = o.ledger_;
        }
        return *this;
    }
    ~TrackedBuffer() { release(); }

    std::byte* data() noexcept { return data_; }
    const std::byte* data() const noexcept { return data_; }
    std::size_t size() const noexcept { return size_; }
    std::byte* begin() noexcept { return data_; }
    std::byte* end() noexcept { return data_ + size_; }
    const std::byte* begin() const noexcept { return data_; }
    const std::byte* end() const noexcept { return data_ + size_; }

  private:
    void release() noexcept {
        if (!data_) return;
        ledger_->release(std::exchange(data_, nullptr), size_);
    }
    std::byte* data_;
    std::size_t size_;
    BufferLedger* ledger_;
};
static_assert(ringbahn::OwnedBuffer<TrackedBuffer>);

} // namespace test
