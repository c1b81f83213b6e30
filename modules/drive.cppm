// SPDX-License-Identifier: MIT
// ringbahn:drive — the Drive concept: the contract between submissions and a driver.
module;
#include <concepts>
#include <utility>
export module ringbahn:drive;
import :completion;
import :done_signal;
import :slot_request;
import :task;

namespace ringbahn {

// Drive — owns an io_uring: readies SQE slots, submits them, reaps CQEs and completes them.
// The library ships drivers::DemoDriver (a reaper thread) and drivers::LocalDriver (run to
// completion on the calling thread); a user's driver keeps the same contract:
//
//  acquire(r)   Reserve r.sqes_needed() SQEs. If they are free now (SQ space *and* an in-flight
//               limit that keeps CQEs ≤ CQ entries), call r.grant(sqes) before returning true;
//               after grant returns, never touch r again. Otherwise park r (SlotWaitList) and
//               return false: it is granted later, once CQEs free space — backpressure, never
//               an error. Granted SQEs are submitted by the driver (at once or batched), with
//               -EBUSY / -EAGAIN / -EINTR from io_uring_enter retried after reaping.
//  withdraw(r)  r's owner is going away: if r is still parked, unlink it and return true; if it
//               was granted already, return false (its op is in flight). Synchronised with
//               grants: a request is either withdrawn or granted, never both.
//  cancel(c)    Send an IORING_OP_ASYNC_CANCEL for completion c now (flushing the SQ if it is
//               full; never waiting), with user_data c.cancel_user_data(). Its CQE, like every
//               CQE whose user_data is not the driver's own (0), goes to
//               Completion::dispatch(user_data, res, flags, tearing_down).
//  run_until(s) Reap and complete until s.is_set(). A driver whose own thread reaps just waits.
//  spawn(t)     Start t now; the driver owns it until it finishes.
//
// Reaping: every CQE is dispatched exactly once (never dropped: keep ops in flight ≤ CQ entries,
// and rely on IORING_FEAT_NODROP for the rest). Dispatching may resume a coroutine inline, on
// the reaping thread; that coroutine may call acquire/withdraw/cancel again, so the reaper
// holds no lock that those take while it dispatches.
//
// Teardown, in this order (DESIGN.md §4, §5):
//  1. stop reaping on other threads, so nothing resumes a task from here on;
//  2. destroy the spawned tasks still alive: their awaiters cancel their ops (cancel() works);
//  3. grant every parked request an empty span (the driver is gone for them);
//  4. cancel everything in flight (IORING_ASYNC_CANCEL_ANY) and reap until nothing is, with
//     tearing_down = true: a completion whose awaiter is still alive is orphaned, not resumed,
//     and its Cancellation runs when that awaiter is destroyed; cancelled ones run theirs now;
//  5. only then exit the ring — the kernel no longer writes into anybody's memory.
// An awaiter that outlives its driver never calls it again.
export template <class D>
concept Drive = requires(D& d, SlotRequest& r, Completion& c, const DoneSignal& s, Task<void> t) {
    { d.acquire(r) } noexcept -> std::same_as<bool>;
    { d.withdraw(r) } noexcept -> std::same_as<bool>;
    { d.cancel(c) } noexcept;
    d.run_until(s);
    d.spawn(std::move(t));
};

} // namespace ringbahn
