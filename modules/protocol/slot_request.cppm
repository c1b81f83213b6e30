// SPDX-License-Identifier: MIT
// ringbahn:protocol.slot_request — a request for SQE slots, and the FIFO a driver parks it in.
module;
#include <liburing.h>
#include <cstdint>
#include <span>
#include <utility>
export module ringbahn:protocol.slot_request;

namespace ringbahn {

export class SlotWaitList;

// What a submitter hands a driver: "reserve n SQEs for me". The driver grants it by calling
// grant() with exactly n SQEs to fill; if none are free (SQ full, in-flight limit reached) it
// parks the request in a SlotWaitList and grants it later, from whatever thread frees space.
// Teardown grants a parked request an empty span: the driver is going away, the request
// will never be served, and its owner must not touch the driver again.
// Immovable: the driver holds its address while it waits.
export class SlotRequest {
  public:
    using GrantFn = void (*)(SlotRequest& self, std::span<::io_uring_sqe> sqes) noexcept;

    inline SlotRequest(std::uint32_t sqes_needed, GrantFn grant) noexcept { arm(sqes_needed, grant); }
    // Left unset, for an owner that often gets its SQE without asking (Submission's one-SQE
    // path): it must arm() the request before any driver sees it.
    struct Unarmed {};
    inline explicit SlotRequest(Unarmed) noexcept {}
    inline void arm(std::uint32_t sqes_needed, GrantFn grant) noexcept {
        grant_ = grant;
        sqes_needed_ = sqes_needed;
        refused_ = 0;
        prev_ = next_ = nullptr;
        queued_ = false;
    }
    SlotRequest(const SlotRequest&) = delete;
    SlotRequest& operator=(const SlotRequest&) = delete;

    [[nodiscard]] inline std::uint32_t sqes_needed() const noexcept { return sqes_needed_; }

    // Called by the driver, once: fill these SQEs (or learn that the driver is gone).
    // After it returns, the driver must not touch the request again: once its SQEs are
    // submitted the op may complete, and its owner be destroyed, on another thread.
    inline void grant(std::span<::io_uring_sqe> sqes) noexcept { grant_(*this, sqes); }

    // Called by the driver instead of grant(), from inside acquire() only (never later): the
    // request can never be served (it needs more SQEs than the ring has). Its owner completes
    // it at once with `err`, without the kernel.
    inline void refuse(int err) noexcept {
        refused_ = err;
        grant_(*this, {});
    }
    // In the grant function, given no SQEs: the errno refuse() gave (cleared, so a request made
    // again starts clean), or 0 — the driver is going away.
    [[nodiscard]] inline int take_refusal() noexcept { return std::exchange(refused_, 0); }

  private:
    friend class SlotWaitList;
    GrantFn grant_;
    std::uint32_t sqes_needed_;
    int refused_;
    SlotRequest* prev_;
    SlotRequest* next_;
    bool queued_;
};

// Intrusive FIFO of parked requests: no allocation when a submitter must wait.
// Not thread-safe: the driver guards it with whatever guards its SQ.
export class SlotWaitList {
  public:
    [[nodiscard]] inline bool empty() const noexcept { return head_ == nullptr; }
    [[nodiscard]] inline SlotRequest* front() const noexcept { return head_; }
    [[nodiscard]] static bool contains(const SlotRequest& r) noexcept { return r.queued_; }

    inline void push_back(SlotRequest& r) noexcept {
        r.prev_ = tail_;
        r.next_ = nullptr;
        r.queued_ = true;
        (tail_ ? tail_->next_ : head_) = &r;
        tail_ = &r;
    }

    // Unlinks r; returns false if it was not parked here.
    inline bool remove(SlotRequest& r) noexcept {
        if (!r.queued_) return false;
        (r.prev_ ? r.prev_->next_ : head_) = r.next_;
        (r.next_ ? r.next_->prev_ : tail_) = r.prev_;
        r.prev_ = r.next_ = nullptr;
        r.queued_ = false;
        return true;
    }

  private:
    SlotRequest* head_ = nullptr;
    SlotRequest* tail_ = nullptr;
};

} // namespace ringbahn
