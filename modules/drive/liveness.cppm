// SPDX-License-Identifier: MIT
// ringbahn:drive.liveness — which drivers are alive: a wake-up never reaches a destroyed driver.
module;
#include <algorithm>
#include <cstdint>
#include <mutex>
#include <vector>
export module ringbahn:drive.liveness;

namespace ringbahn {

// Which drivers are alive, so that a waiter's wake-up never reaches a driver that is gone
// (a buffer pool may hand a lease to a waiter long after that waiter's driver was destroyed).
// Every driver embeds one and ends it first thing in its destructor: from then on, posts to it
// are dropped. Ids are never reused, unlike addresses.
export class Liveness {
  public:
    inline Liveness() {
        std::lock_guard lock(registry().mutex);
        id_ = ++registry().next;
        registry().live.push_back(id_);
    }
    Liveness(const Liveness&) = delete;
    Liveness& operator=(const Liveness&) = delete;
    inline ~Liveness() { end(); }

    inline void end() noexcept {
        std::lock_guard lock(registry().mutex);
        std::erase(registry().live, id_);
    }
    [[nodiscard]] inline std::uint64_t id() const noexcept { return id_; }

    // Runs f under the registry lock if driver `id` is still alive; returns whether it ran.
    template <class F>
    static bool if_alive(std::uint64_t id, F&& f) noexcept {
        std::lock_guard lock(registry().mutex);
        if (std::find(registry().live.begin(), registry().live.end(), id) == registry().live.end())
            return false;
        f();
        return true;
    }

  private:
    struct Registry {
        std::mutex mutex;
        std::vector<std::uint64_t> live;
        std::uint64_t next = 0;
    };
    static inline Registry& registry() noexcept {
        static Registry r;
        return r;
    }
    std::uint64_t id_ = 0;
};

} // namespace ringbahn
