// SPDX-License-Identifier: MIT
// ringbahn:protocol.cancellation — type-erased, move-only cleanup that runs once, with the op's CQE.
module;
#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>
export module ringbahn:protocol.cancellation;

namespace ringbahn {

// When an awaiter goes away while the kernel still owns its op, the event's storage moves into
// a Cancellation. It runs exactly once, on the reaping thread, when the op's last CQE is in —
// and it is handed that CQE, so it can give back what the kernel produced for a cancelled op
// (close an accepted or opened fd, return a provided buffer). Destroying it frees the storage.
//
// Small callables live inline (no allocation on the cancellation path); larger ones on the heap.
// A function-pointer table instead of std::function: no allocation, noexcept, move-only.
// The callable may run more than once (each(), for a multishot op's CQEs, then run()): a
// cleanup must give back only what the CQE it is handed produced.
export class Cancellation {
  public:
    inline Cancellation() noexcept = default;

    template <class F>
        requires(!std::same_as<std::remove_cvref_t<F>, Cancellation> &&
                 std::is_nothrow_invocable_v<std::remove_cvref_t<F>&, std::int32_t, std::uint32_t>)
    explicit Cancellation(F&& f) {
        using Fn = std::remove_cvref_t<F>;
        if constexpr (fits_inline<Fn>) {
            ::new (static_cast<void*>(storage_)) Fn(std::forward<F>(f));
            table_ = &inline_table<Fn>;
        } else {
            ::new (static_cast<void*>(storage_)) Fn*(new Fn(std::forward<F>(f)));
            table_ = &heap_table<Fn>;
        }
    }

    inline Cancellation(Cancellation&& other) noexcept : table_(std::exchange(other.table_, nullptr)) {
        if (table_) table_->relocate(storage_, other.storage_);
    }
    inline Cancellation& operator=(Cancellation&& other) noexcept {
        if (this != &other) {
            reset();
            table_ = std::exchange(other.table_, nullptr);
            if (table_) table_->relocate(storage_, other.storage_);
        }
        return *this;
    }
    Cancellation(const Cancellation&) = delete;
    Cancellation& operator=(const Cancellation&) = delete;
    inline ~Cancellation() { reset(); }

    // Runs the cleanup with the op's CQE, then frees everything it held.
    inline void run(std::int32_t res, std::uint32_t flags) && noexcept {
        if (!table_) return;
        table_->run(storage_, res, flags);
        reset();
    }

    // Multishot ops: runs the cleanup for one of several CQEs (an fd accepted, a buffer filled
    // after the stream went away), keeping the storage for the CQEs still to come.
    inline void each(std::int32_t res, std::uint32_t flags) & noexcept {
        if (table_) table_->run(storage_, res, flags);
    }

    explicit operator bool() const noexcept { return table_ != nullptr; }

  private:
    static constexpr std::size_t inline_size = 6 * sizeof(void*);

    template <class Fn>
    static constexpr bool fits_inline = sizeof(Fn) <= inline_size &&
                                        alignof(Fn) <= alignof(std::max_align_t) &&
                                        std::is_nothrow_move_constructible_v<Fn>;

    struct Table {
        void (*run)(void* self, std::int32_t res, std::uint32_t flags) noexcept;
        void (*relocate)(void* to, void* from) noexcept; // move-construct into `to`, destroy `from`
        void (*destroy)(void* self) noexcept;
    };

    template <class Fn>
    static constexpr Table inline_table{
        [](void* self, std::int32_t res, std::uint32_t flags) noexcept {
            (*static_cast<Fn*>(self))(res, flags);
        },
        [](void* to, void* from) noexcept {
            ::new (to) Fn(std::move(*static_cast<Fn*>(from)));
            static_cast<Fn*>(from)->~Fn();
        },
        [](void* self) noexcept { static_cast<Fn*>(self)->~Fn(); },
    };

    template <class Fn>
    static constexpr Table heap_table{
        [](void* self, std::int32_t res, std::uint32_t flags) noexcept {
            (**static_cast<Fn**>(self))(res, flags);
        },
        [](void* to, void* from) noexcept { ::new (to) Fn*(*static_cast<Fn**>(from)); },
        [](void* self) noexcept { delete *static_cast<Fn**>(self); },
    };

    inline void reset() noexcept {
        if (table_) std::exchange(table_, nullptr)->destroy(storage_);
    }

    alignas(std::max_align_t) std::byte storage_[inline_size];
    const Table* table_ = nullptr;
};

// The common Cancellation: keep the kernel's borrowed storage alive until the CQE, then free it.
export template <class... Storage>
    requires(std::is_nothrow_move_constructible_v<Storage> && ...)
[[nodiscard]] Cancellation hold_until_cqe(Storage... storage) {
    return Cancellation{[... held = std::move(storage)](std::int32_t, std::uint32_t) noexcept {}};
}

} // namespace ringbahn
