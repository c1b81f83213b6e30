// SPDX-License-Identifier: MIT
// ringbahn:await.operation — the handshake every op makes with its driver, in one place: ask for
// SQE slots, learn that they were granted (or refused, or that the driver went away), and on the
// way out decide whether the op is withdrawn, discarded or cancelled. Submission (one op) and
// MultishotStream (an op armed again and again) both are an Operation.
module;
#include <liburing.h>
#include <atomic>
#include <cstdint>
#include <span>
#include <utility>
export module ringbahn:await.operation;
import :protocol.cancellation;
import :protocol.completion;
import :protocol.slot_request;

namespace ringbahn::detail {

// Phases, all on the owner's thread unless said otherwise:
//   idle     → waiting   request(): the driver is asked for SQEs (or the owner filled an SQE
//                        it got without asking: it stays idle, and counts as in the kernel).
//   waiting  → granted   the driver fills the SQEs (maybe on its reaping thread).
//   waiting  → gone      driver teardown: never granted; the driver must not be touched.
//   granted/idle → idle  the owner took the op's last CQE and may arm it again (a stream).
// `completion_` is the op's state from request() until the op is consumed or left.
template <class D>
class Operation : protected SlotRequest {
  protected:
    enum class Phase : std::uint8_t { idle, waiting, granted, gone };

    explicit Operation(D& driver) noexcept : Operation(&driver) {}
    // nullptr: spent (an owner moved from); it is never requested.
    explicit Operation(D* driver) noexcept : SlotRequest(SlotRequest::Unarmed{}), driver_(driver) {}
    Operation(const Operation&) = delete;
    Operation& operator=(const Operation&) = delete;

    // Asks the driver for `sqes` SQEs; `grant` runs when they are free (maybe on another thread,
    // before this returns — the owner must touch nothing afterwards unless refused). Returns 0,
    // or the errno of a refusal made inside acquire() (the op can never be served): then nobody
    // else will touch the op, and its owner completes it itself.
    [[nodiscard]] int request(std::uint32_t sqes, GrantFn grant) noexcept {
        SlotRequest::arm(sqes, grant);
        phase_.store(Phase::waiting, std::memory_order_relaxed);
        int refused = 0;
        refusal_ = &refused; // written only from inside acquire(), on this thread
        driver_->acquire(*this);
        return refused;
    }

    // The start of every grant function: false when there is nothing to fill — the driver
    // refused the request (from inside acquire) or is going away (teardown).
    [[nodiscard, gnu::always_inline]] inline bool slots_given(std::span<::io_uring_sqe> sqes) noexcept {
        if (!sqes.empty()) [[likely]]
            return true;
        if (const int err = take_refusal())
            *refusal_ = err;
        else
            phase_.store(Phase::gone, std::memory_order_release);
        return false;
    }

    // The SQEs are filled: from here a leave() cancels instead of withdrawing. `order` is
    // seq_cst where a stop request races with the grant (Submission under a StopScope).
    inline void mark_granted(std::memory_order order = std::memory_order_release) noexcept {
        phase_.store(Phase::granted, order);
    }

    // The owner goes away (or re-arms) while its op may be with the driver or the kernel: the one
    // place that decides what happens to the op's state.
    //  * still parked at the driver: withdrawn, and the state discarded (the kernel never saw it);
    //  * the driver went away before granting it: discarded;
    //  * with the kernel: `hand_over(completion)` moves what the kernel borrows into the state
    //    (Completion::abandon, or close_stream for a stream) and says whether a cancel SQE must
    //    go out now; the driver sends it.
    template <class HandOver>
    void leave(HandOver&& hand_over) noexcept {
        Phase phase = phase_.load(std::memory_order_acquire);
        if (phase == Phase::waiting) {
            if (driver_->withdraw(*this)) {
                std::exchange(completion_, nullptr)->discard();
                return;
            }
            phase = phase_.load(std::memory_order_acquire); // granted meanwhile
        }
        Completion* c = std::exchange(completion_, nullptr);
        if (phase == Phase::gone) {
            c->discard();
            return;
        }
        if (hand_over(*c)) driver_->cancel(*c);
    }

    D* driver_;
    Completion* completion_ = nullptr;
    std::atomic<Phase> phase_{Phase::idle};

  private:
    int* refusal_; // request()'s local, for a refusal inside acquire(); set by request()
};

} // namespace ringbahn::detail
