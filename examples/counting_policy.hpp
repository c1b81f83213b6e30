// SPDX-License-Identifier: MIT
// A user's own BufferPolicy, written only against ringbahn's public concept: heap buffers of
// a size chosen at run time, with counters of leases taken and returned — the kind of policy
// you write to watch a Ring's buffer traffic, or to plug in your own allocator.
#pragma once
#include <atomic>
#include <cstddef>
#include <expected>
#include <memory>
#include <system_error>

import ringbahn;

struct LeaseCounters {
    std::atomic<long> taken{0};
    std::atomic<long> returned{0};
    long outstanding() const { return taken.load() - returned.load(); }
};

// The lease: an OwnedBuffer (its bytes live on the heap, so moving it moves no data) that
// reports its return — from the Ring, or from a Cancellation after the kernel is done.
class CountedLease {
  public:
    static constexpr bool owns_stable_bytes = true; // OwnedBuffer: heap bytes, moved by pointer
    CountedLease(std::size_t size, LeaseCounters& counters)
        : data_(std::make_unique<std::byte[]>(size)), size_(size), counters_(&counters) {
        counters_->taken.fetch_add(1);
    }
    CountedLease(CountedLease&& o) noexcept
        : data_(std::move(o.data_)), size_(o.size_), counters_(o.counters_) {}
    CountedLease& operator=(CountedLease&& o) noexcept {
        if (this != &o) {
            give_back();
            data_ = std::move(o.data_);
            size_ = o.size_;
            counters_ = o.counters_;
        }
        return *this;
    }
    ~CountedLease() { give_back(); }

    std::byte* data() noexcept { return data_.get(); }
    const std::byte* data() const noexcept { return data_.get(); }
    std::size_t size() const noexcept { return size_; }
    std::byte* begin() noexcept { return data(); }
    std::byte* end() noexcept { return data() + size_; }
    const std::byte* begin() const noexcept { return data(); }
    const std::byte* end() const noexcept { return data() + size_; }

  private:
    void give_back() noexcept {
        if (data_) counters_->returned.fetch_add(1);
        data_.reset();
    }
    std::unique_ptr<std::byte[]> data_;
    std::size_t size_;
    LeaseCounters* counters_;
};

struct CountingPolicy {
    using Lease = CountedLease;
    static constexpr bool registered = false; // plain READ / WRITE
    static constexpr bool keep_leases = false; // return each buffer once consumed

    std::size_t buffer_size;
    LeaseCounters* counters;

    // Never waits: hand back a ready awaitable. (A policy that waits resumes its waiter through
    // the Poster — on the Ring's driver, at its next turn.)
    ringbahn::Ready<ringbahn::Result<Lease>> acquire(ringbahn::Poster) {
        return {Lease(buffer_size, *counters)};
    }
};
static_assert(ringbahn::BufferPolicy<CountingPolicy>);
