// SPDX-License-Identifier: MIT
// ringbahn:detail.recycler — per-thread free lists for completion states and coroutine frames.
module;
#include <cstddef>
#include <cstdint>
#include <new>
export module ringbahn:detail.recycler;

namespace ringbahn::detail {

// Every op allocates a Completion and usually a coroutine frame or two; in steady state they
// come from here, not from malloc: a free list per size class (64-byte steps up to 2 KiB) per
// thread, with no locks. A block freed on another thread than it was made on (the demo
// reaper frees cancelled states) joins that thread's list. Lists are capped so a burst does
// not pin memory forever; what is over the cap, or too large, goes to the global heap.
class Recycler {
  public:
    static constexpr std::size_t step = 64;
    static constexpr std::size_t classes = 32; // up to 2 KiB
    static constexpr std::uint32_t cap = 256;  // blocks kept per class and thread

    [[nodiscard]] static inline void* allocate(std::size_t size) {
        const std::size_t c = (size + step - 1) / step;
        if (c < classes) {
            Recycler& r = mine();
            if (Node* n = r.free_[c]) {
                r.free_[c] = n->next;
                --r.count_[c];
                return n;
            }
            return ::operator new(c * step);
        }
        return ::operator new(size);
    }

    static inline void deallocate(void* p, std::size_t size) noexcept {
        const std::size_t c = (size + step - 1) / step;
        if (c < classes) {
            Recycler& r = mine();
            if (r.count_[c] < cap) {
                r.free_[c] = ::new (p) Node{r.free_[c]};
                ++r.count_[c];
                return;
            }
            ::operator delete(p, c * step);
            return;
        }
        ::operator delete(p, size);
    }

    ~Recycler() {
        for (std::size_t c = 0; c < classes; ++c)
            while (Node* n = free_[c]) {
                free_[c] = n->next;
                ::operator delete(static_cast<void*>(n), c * step);
            }
    }

  private:
    struct Node {
        Node* next;
    };
    static inline Recycler& mine() noexcept {
        thread_local Recycler r;
        return r;
    }
    Node* free_[classes] = {};
    std::uint32_t count_[classes] = {};
};

} // namespace ringbahn::detail
