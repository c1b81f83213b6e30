// SPDX-License-Identifier: MIT
// ringbahn:buffers.buffer_policy — the BufferPolicy concept: where a Ring's buffers come from.
module;
#include <concepts>
#include <cstdint>
#include <expected>
#include <utility>
export module ringbahn:buffers.buffer_policy;
import :buffers.buffer;
import :drive.drive;
import :protocol.error;
import :drive.poster;

namespace ringbahn {

// BufferPolicy — chosen at compile time by Ring<IO, Policy>; policies/ has heap, pooled and
// registered, and examples/custom_policy.cpp shows a user's own.
// A model guarantees:
//  * Lease is an OwnedBuffer (data() survives moves) that gives its memory back to wherever it
//    came from when destroyed — on any thread, including the reaper running a Cancellation, so
//    a cancelled op's buffer returns only after its CQE.
//  * acquire(poster) returns an awaitable yielding Result<Lease>: a lease, or an error (e.g. a
//    pool in fail mode is empty). It may suspend (a pool in wait mode); then it is resumed
//    through `poster` — on the Ring's driver, at its next loop turn, never inline from whoever
//    returned a lease — and destroying it while it waits withdraws the request.
//  * optional: lease_into(std::optional<Lease>& slot) → bool: a lease into the empty slot now,
//    or false where acquire() would wait or fail. A Ring's read tries it first: no awaiter, no
//    wake-up to arrange, no error to carry (acquire() gives that).
//  * `registered`: leases are FixedBuffers in memory registered with the Ring's driver, and
//    the Ring uses READ_FIXED / WRITE_FIXED.
//  * `keep_leases`: a Ring may keep a lease between ops (one buffer per Ring); when false it
//    returns each lease as soon as its data is consumed, so idle Rings hold no buffers.
export template <class P>
concept BufferPolicy = std::movable<P> && OwnedBuffer<typename P::Lease> && requires(P& p, Poster w) {
    { p.acquire(w).await_ready() } -> std::convertible_to<bool>;
    { p.acquire(w).await_resume() } -> std::same_as<Result<typename P::Lease>>;
    { P::registered } -> std::convertible_to<bool>;
    { P::keep_leases } -> std::convertible_to<bool>;
} && (!P::registered || FixedBuffer<typename P::Lease>);

// A policy whose read buffers the kernel picks when data arrives (policies::Provided): the Ring
// submits read_event(fd, offset) instead of leasing a buffer first. Shared buffers must not be
// hoarded (other connections' slow peers must not starve this one), so:
//  * after ENOBUFS (all lent out) the Ring does not wait for one to come back: it polls until
//    data is there, then reads it into fallback_lease() — heap bytes;
//  * when running_low(), a Ring holding part of a chunk copies the rest out and returns the
//    buffer.
// acquire() still gives write buffers.
export template <class P>
concept KernelSelectsBuffers = BufferPolicy<P> && requires(P& p, const P& cp, int fd, std::uint64_t at) {
    p.read_event(fd, at);
    { p.fallback_lease() } -> std::same_as<typename P::Lease>;
    { cp.running_low() } noexcept -> std::same_as<bool>;
};

} // namespace ringbahn
