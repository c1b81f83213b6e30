// SPDX-License-Identifier: MIT
// ringbahn:drive.drive — the Drive concept: the contract between submissions and a driver.
module;
#include <liburing.h>
#include <concepts>
#include <cstdint>
#include <coroutine>
#include <utility>
export module ringbahn:drive.drive;
import :protocol.completion;
import :drive.liveness;
import :drive.done_signal;
import :protocol.slot_request;
import :tasks.task;

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
//               full; never waiting), aimed at c.sqe_user_data(c.first_pending_sqe()), with
//               user_data c.cancel_user_data(that index). Its CQE, like every CQE whose
//               user_data is not the driver's own (0) nor a message (bit 63), goes to
//               Completion::dispatch(user_data, res, flags, tearing_down); when that returns an
//               SQE index, send a cancel aimed at it (a link's follow-up). Called from a thread
//               that may not touch the ring (a stop request from elsewhere), a driver that
//               cannot hand the cancel to its own thread calls c.cancel_not_sent() instead.
//  refusal      An op the driver can never serve (more SQEs than its ring): r.refuse(errno)
//               from inside acquire(), never later.
//  post(h)      Resume coroutine h at the driver's next loop turn, on its reaping thread — never
//               inline. Synchronisation primitives (a buffer pool handing a lease to a waiter) use
//               it, so nothing resumes a coroutine from inside a destructor or on a driver that
//               is gone: at teardown, posted handles are dropped, never resumed.
//  unpost(h)    h's frame is being destroyed: if h is still posted, forget it and return true.
//  liveness()   the driver's Liveness, ended first thing in its destructor.
//  run_until(s) Complete CQEs and posted coroutines on this thread until s.is_set(). Coroutines
//               are resumed only here (DemoDriver's reaper hands its CQEs over to this loop).
//               It may return Result<void>: an error ends it early (LocalDriver: EPERM off its
//               thread, EDEADLK when nothing in flight or posted can ever set s), and block_on
//               then destroys its task and reports the error.
//  spawn(t)     Start t now; the driver owns it until it finishes.
//
// Reaping: every CQE is dispatched exactly once, never dropped. Ops in flight are not capped
// at the ring's size (idle connections would starve the rest): the kernel keeps CQEs that do not
// fit in the CQ (IORING_FEAT_NODROP) and the reaper flushes them. Only SQ slots are rationed
// (acquire parks a request while the SQ is full); -EBUSY from a submit means reap, then retry.
// Dispatching may resume a coroutine inline, on
// the loop's thread; that coroutine may call acquire/withdraw/cancel again, so the loop holds
// no lock that those take while it dispatches.
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
// The contract has two halves, so a custom driver can take either from an existing one (see
// examples/counting_driver.cpp, which wraps a LocalDriver):
// SqeSource — what ops need from the ring: SQE slots with backpressure, withdrawal, cancel.
export template <class D>
concept SqeSource = requires(D& d, SlotRequest& r, Completion& c) {
    { d.acquire(r) } noexcept -> std::same_as<bool>;
    { d.withdraw(r) } noexcept -> std::same_as<bool>;
    { d.cancel(c) } noexcept;
};
// Executor — where coroutines run: post/unpost, the run loop, spawned tasks, liveness.
export template <class D>
concept Executor = requires(D& d, const DoneSignal& s, Task<void> t, std::coroutine_handle<> h) {
    { d.post(h) } noexcept;
    { d.unpost(h) } noexcept -> std::same_as<bool>;
    { std::as_const(d).liveness() } noexcept -> std::same_as<const Liveness&>;
    d.run_until(s);
    d.spawn(std::move(t));
};
export template <class D>
concept Drive = SqeSource<D> && Executor<D>;

// Optional, for a driver whose submitters run on its own thread: `sqe_now()` hands a one-SQE
// op its SQE at once (or nullptr: then acquire() decides), and `sqe_filled(sqe)` is called once
// the op has written it. Submission uses it instead of acquire's grant callback: the cheapest
// path an op can take, with the same contract as acquire granting one SQE.
export template <class D>
concept DirectSqe = requires(D& d, ::io_uring_sqe& sqe) {
    { d.sqe_now() } noexcept -> std::same_as<::io_uring_sqe*>;
    { d.sqe_filled(sqe) } noexcept;
};

} // namespace ringbahn
