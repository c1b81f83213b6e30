// SPDX-License-Identifier: MIT
// ringbahn:protocol.op_handle — names an in-flight op for the ops that act on another op.
module;
#include <atomic>
#include <cstdint>
#include <memory>
export module ringbahn:protocol.op_handle;

namespace ringbahn {

// timeout_remove / timeout_update / poll_remove / async_cancel find their target by its
// user_data, which the submission machinery owns. An event that can be targeted carries an
// OpHandle: the machinery records the user_data when the op is granted, and the event clears
// it when its CQE is in (completed or cancelled), so a handle never names a recycled state.
// Copies share the same record. An op acting on a handle that names nothing gets ENOENT.
export class OpHandle {
  public:
    // user_data of the op while it is in flight; 0 before and after.
    // (A handle moved from names nothing: 0, and set / clear do nothing.)
    [[nodiscard]] inline std::uint64_t user_data() const noexcept {
        return id_ ? id_->load(std::memory_order_acquire) : 0;
    }
    [[nodiscard]] inline bool in_flight() const noexcept { return user_data() != 0; }
    // What an op acting on this handle puts in its SQE: the user_data, or — when the handle
    // names nothing — an aligned address no state can have, so the kernel answers ENOENT.
    [[nodiscard]] inline std::uint64_t target() const noexcept {
        const std::uint64_t id = user_data();
        return id ? id : ~std::uint64_t{0} << 6;
    }

    // The machinery's and the event's side.
    inline void set(std::uint64_t user_data) const noexcept {
        if (id_) id_->store(user_data, std::memory_order_release);
    }
    inline void clear() const noexcept {
        if (id_) id_->store(0, std::memory_order_release);
    }

  private:
    std::shared_ptr<std::atomic<std::uint64_t>> id_ =
        std::make_shared<std::atomic<std::uint64_t>>(0);
};

// An event that can be targeted: `granted(user_data)` is called once its SQE is filled.
export template <class E>
concept Targetable = requires(E& e, std::uint64_t user_data) {
    { e.granted(user_data) } noexcept;
};

} // namespace ringbahn
