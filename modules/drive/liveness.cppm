// SPDX-License-Identifier: MIT
// ringbahn:drive.liveness — which drivers are alive: a wake-up never reaches a destroyed driver.
module;
#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <vector>
export module ringbahn:drive.liveness;

namespace ringbahn {

// Which drivers are alive, so that a waiter's wake-up never reaches a driver that is gone
// (a buffer pool may hand a lease to a waiter long after that waiter's driver was destroyed).
// Every driver embeds one and ends it first thing in its destructor: from then on, posts to it
// are dropped. Ids are never reused, unlike addresses.
//
// Each live driver has a slot of its own with its own lock, found from its id without a
// search: posts to different drivers (64 cores waking each other) share no lock, and posts to
// one driver from several threads only read-lock its slot. The one shared mutex is taken when
// a driver is made or destroyed.
export class Liveness {
  public:
    inline Liveness() {
        auto& r = registry();
        std::uint32_t index = 0;
        {
            std::lock_guard lock(r.mutex);
            if (!r.free.empty()) {
                index = r.free.back();
                r.free.pop_back();
            } else {
                if (r.used == kChunks * kChunkSlots) throw std::length_error("ringbahn: too many live drivers");
                r.free.reserve(r.used + 1); // end() returns the slot without allocating
                index = r.used++;
                auto& chunk = r.chunks[index / kChunkSlots];
                if (chunk.load(std::memory_order_relaxed) == nullptr)
                    chunk.store(new Chunk(), std::memory_order_release); // never freed: ids outlive drivers
            }
            id_ = (++r.generation << kIndexBits) | index;
        }
        Slot& s = *find(id_);
        std::unique_lock lock(s.mutex);
        s.id = id_;
    }
    Liveness(const Liveness&) = delete;
    Liveness& operator=(const Liveness&) = delete;
    inline ~Liveness() { end(); }

    // Waits for a post running under if_alive to finish; from then on, none runs. Idempotent.
    inline void end() noexcept {
        if (ended_) return;
        ended_ = true;
        {
            Slot& s = *find(id_);
            std::unique_lock lock(s.mutex);
            s.id = 0;
        }
        auto& r = registry();
        std::lock_guard lock(r.mutex);
        r.free.push_back(static_cast<std::uint32_t>(id_ & kIndexMask)); // reserved: no bad_alloc
    }
    [[nodiscard]] inline std::uint64_t id() const noexcept { return id_; }

    // Runs f under driver `id`'s slot lock (shared) if that driver is still alive; returns
    // whether it ran. f must not call if_alive itself.
    template <class F>
    static bool if_alive(std::uint64_t id, F&& f) noexcept {
        Slot* s = find(id);
        if (s == nullptr) return false;
        std::shared_lock lock(s->mutex);
        if (s->id != id || id == 0) return false;
        f();
        return true;
    }

  private:
    static constexpr unsigned kIndexBits = 20; // up to 2^20 live drivers; the rest is a generation
    static constexpr std::uint64_t kIndexMask = (std::uint64_t{1} << kIndexBits) - 1;
    static constexpr std::uint32_t kChunkSlots = 1024;
    static constexpr std::uint32_t kChunks = (1u << kIndexBits) / kChunkSlots;
    struct Slot {
        std::shared_mutex mutex;
        std::uint64_t id = 0; // the live driver's id, 0 when free
    };
    using Chunk = std::array<Slot, kChunkSlots>;
    struct Registry {
        std::mutex mutex; // slot allocation only
        std::array<std::atomic<Chunk*>, kChunks> chunks{};
        std::vector<std::uint32_t> free;
        std::uint32_t used = 0;
        std::uint64_t generation = 0;
    };
    static inline Registry& registry() noexcept {
        static Registry r;
        return r;
    }
    // The slot id's index names; nullptr if no driver ever had one in its chunk.
    static inline Slot* find(std::uint64_t id) noexcept {
        const auto index = id & kIndexMask;
        Chunk* chunk = registry().chunks[index / kChunkSlots].load(std::memory_order_acquire);
        return chunk ? &(*chunk)[index % kChunkSlots] : nullptr;
    }
    std::uint64_t id_ = 0;
    bool ended_ = false;
};

} // namespace ringbahn
