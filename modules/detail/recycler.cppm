// SPDX-License-Identifier: MIT
// ringbahn:detail.recycler — per-thread free lists for completion states and coroutine frames.
module;
#include <cstddef>
#include <cstdint>
#include <new>
// Under AddressSanitizer the free lists step aside (see Recycler::bypass): a stale pointer into a
// recycled block must be reported, not read as a live one.
#if defined(__SANITIZE_ADDRESS__)
#define RINGBAHN_RECYCLER_BYPASS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RINGBAHN_RECYCLER_BYPASS 1
#endif
#endif
#ifndef RINGBAHN_RECYCLER_BYPASS
#define RINGBAHN_RECYCLER_BYPASS 0
#endif
export module ringbahn:detail.recycler;

namespace ringbahn::detail {

// Every op allocates a Completion and usually a coroutine frame or two; in steady state they
// come from here, not from malloc: a free list per size class (64-byte steps up to 2 KiB) per
// thread, with no locks. A block freed on another thread than it was made on (the demo
// reaper frees cancelled states) joins that thread's list. Lists are capped so a burst does
// not pin memory forever; what is over the cap, or too large, goes to the global heap.
// Blocks of a class are 64-byte aligned (a cache line each, and the low six bits of a
// Completion's address are free to tag its user_data with).
class Recycler {
  public:
    static constexpr std::size_t step = 64;
    static constexpr std::align_val_t alignment{step};
    static constexpr std::size_t classes = 32; // up to 2 KiB
    static constexpr std::uint32_t cap = 256;  // blocks kept per class and thread
    // ASan builds: every block goes straight back to the heap, where ASan quarantines it, so a
    // use after free of a Completion or a Task frame is reported (tests/regression proves it).
    // A block on a free list would be live memory to ASan and hide exactly that bug.
    static constexpr bool bypass = RINGBAHN_RECYCLER_BYPASS;

    [[nodiscard]] static inline void* allocate(std::size_t size) {
        const std::size_t c = (size + step - 1) / step;
        if constexpr (bypass) return ::operator new(c < classes ? c * step : size, alignment);
        if (c < classes) {
            if (Node* n = lists.free[c]) {
                lists.free[c] = n->next;
                ++lists.room[c];
                return n;
            }
            return ::operator new(c * step, alignment);
        }
        return ::operator new(size, alignment);
    }

    static inline void deallocate(void* p, std::size_t size) noexcept {
        const std::size_t c = (size + step - 1) / step;
        if constexpr (bypass) {
            ::operator delete(p, c < classes ? c * step : size, alignment);
            return;
        }
        if (c < classes && lists.room[c] != 0) [[likely]] { // one test: room is 0 unless armed
            lists.free[c] = ::new (p) Node{lists.free[c]};
            --lists.room[c];
            return;
        }
        keep_or_free(p, c, size);
    }

  private:
    struct Node {
        Node* next;
    };
    enum class State : std::uint8_t { fresh, armed, gone };
    // Trivially constructed and destroyed, so reaching it costs one TLS-relative load: no guard
    // variable, no registration on the hot path. `room` is what a list may still take: 0 until
    // the thread's first free arms the cleanup (a second thread_local whose destructor empties
    // the lists at thread exit), and 0 again from then on.
    struct Lists {
        Node* free[classes];
        std::uint32_t room[classes];
        State state;
    };
    static inline thread_local constinit Lists lists{};

    struct Cleanup {
        ~Cleanup() {
            lists.state = State::gone; // blocks freed later in thread exit go to the heap
            for (std::size_t c = 0; c < classes; ++c) {
                lists.room[c] = 0;
                while (Node* n = lists.free[c]) {
                    lists.free[c] = n->next;
                    ::operator delete(static_cast<void*>(n), c * step, alignment);
                }
            }
        }
    };
    // A list with no room: the thread's first free (arm the cleanup, then keep the block), a
    // full list, a block too large, or a thread past its cleanup: to the heap.
    [[gnu::noinline]] static void keep_or_free(void* p, std::size_t c, std::size_t size) noexcept {
        if (c >= classes) {
            ::operator delete(p, size, alignment);
            return;
        }
        if (lists.state == State::fresh) {
            thread_local Cleanup cleanup;
            (void)cleanup;
            lists.state = State::armed;
            for (std::uint32_t& r : lists.room) r = cap;
            lists.free[c] = ::new (p) Node{lists.free[c]};
            --lists.room[c];
            return;
        }
        ::operator delete(p, c * step, alignment);
    }
};

} // namespace ringbahn::detail
