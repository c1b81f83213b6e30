// SPDX-License-Identifier: MIT
// Uring's implementation: the only place that calls liburing's static inline helpers.
module;
#include <liburing.h>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <expected>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <csignal>
#include <span>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
module ringbahn;

namespace ringbahn::detail {

namespace {
constexpr std::uint64_t driver_user_data = 0; // the driver's own SQEs (wake-ups, cancel-any)
} // namespace

Uring::~Uring() {
    if (open_) ::io_uring_queue_exit(&ring_);
}

Result<void> Uring::open(const RingOptions& options) {
    // A write to a socket or pipe whose reader is gone raises SIGPIPE, whose default action
    // kills the process — an EPIPE the caller never sees. Like Rust's runtime, ignore it while
    // its disposition is the default (a program that set a handler keeps it): the op then
    // fails with EPIPE, a value. Checked at every ring creation: a program may reset it.
    if (struct sigaction old{}; ::sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL)
        ::signal(SIGPIPE, SIG_IGN);
    // A kernel without a flag answers -EINVAL: drop the newest flag first (the last in this
    // list still set) and try again; setup_flags() reports what is in force.
    constexpr std::uint32_t droppable[] = {
        IORING_SETUP_SUBMIT_ALL,     // 5.18
        IORING_SETUP_COOP_TASKRUN,   // 5.19
        IORING_SETUP_TASKRUN_FLAG,   // 5.19
        IORING_SETUP_SINGLE_ISSUER,  // 6.0
        IORING_SETUP_DEFER_TASKRUN,  // 6.1
    };
    // Never CQE32 (or SQE128): the reap loops read one slot per CQE.
    std::uint32_t flags = options.setup_flags & ~(IORING_SETUP_CQE32 | IORING_SETUP_SQE128);
    std::uint32_t features = 0; // IORING_FEAT_* the kernel reported
    for (;;) {
        ::io_uring_params params{};
        // A big CQ absorbs bursts (a thousand timers firing together, a storm of accepts)
        // without the overflow list; the default stays within the kernel's maximum (65,536).
        params.flags = flags | IORING_SETUP_CQSIZE;
        params.cq_entries = options.cq_entries
                                ? options.cq_entries
                                : std::max(std::min(options.entries, 1u << 16) * 2u,
                                           std::min(options.entries * 16u, 1u << 16));
        params.sq_thread_idle = options.sq_thread_idle_ms;
        const int rc = ::io_uring_queue_init_params(options.entries, &ring_, &params);
        if (rc == 0) {
            features = params.features;
            break;
        }
        if (rc != -EINVAL) return std::unexpected(errno_code(-rc));
        // Drop the last preferred flag still set; DEFER_TASKRUN needs SINGLE_ISSUER.
        std::uint32_t dropped = 0;
        for (auto f : droppable)
            if (flags & f) dropped = f;
        if (dropped == 0) return std::unexpected(errno_code(EINVAL));
        flags &= ~dropped;
    }
    open_ = true;
    // Ops in flight are not capped at the CQ's size (see Uring): only a kernel that keeps
    // the CQEs that do not fit (5.5) makes that safe.
    if (!(features & IORING_FEAT_NODROP)) return std::unexpected(errno_code(EOPNOTSUPP));
    if (::io_uring_probe* probe = ::io_uring_get_probe_ring(&ring_)) {
        for (auto& word : supported_) word = 0;
        for (unsigned i = 0; i < probe->ops_len && i < 256; ++i)
            if (probe->ops[i].flags & IO_URING_OP_SUPPORTED)
                supported_[i >> 6] |= std::uint64_t{1} << (i & 63);
        ::io_uring_free_probe(probe);
    } // no probe (before 5.6): every op is tried, and the kernel answers for itself
    for (std::uint8_t op : options.hide_opcodes) supported_[op >> 6] &= ~(std::uint64_t{1} << (op & 63));
    all_supported_below_ = 0;
    while (all_supported_below_ < 255 && supports(static_cast<std::uint8_t>(all_supported_below_)))
        ++all_supported_below_;
    setup_flags_ = ring_.flags;
    exclusive_ = options.exclusive;
    faults_ = options.faults;
    parked_cancels_.reserve(ring_.cq.ring_entries);
    follow_ups_.reserve(64); // a reap batch
    return {};
}

void Uring::flush_overflow() noexcept {
    cq_overflows_.fetch_add(1, std::memory_order_relaxed);
    ::io_uring_get_events(&ring_); // enter with GETEVENTS: the kernel moves them into the CQ
}

bool Uring::make_sq_space(std::uint32_t n) noexcept {
    const int rc = submit();
    if (sq_space_left(ring_) >= n) return true;
    if (rc == 0 && (setup_flags_ & IORING_SETUP_SQPOLL))
        for (int tries = 0; tries < 1000 && sq_space_left(ring_) < n; ++tries)
            if (::io_uring_sqring_wait(&ring_) < 0) break;
    return sq_space_left(ring_) >= n;
}

::io_uring_sqe* Uring::get_sqe_flushing() noexcept {
    if (auto* sqe = get_sqe(ring_)) return sqe;
    submit(); // the kernel copies SQEs at submit: their slots are free again after it
    return get_sqe(ring_);
}

void Uring::prep_cancel_of(::io_uring_sqe& sqe, const Completion& c, std::uint32_t index) noexcept {
    prep_cancel_user_data(sqe, c.sqe_user_data(index), 0);
    sqe.user_data = c.cancel_user_data(index);
}

std::optional<Uring::Message> Uring::take_message() noexcept {
    std::lock_guard lock(messages_mutex_);
    if (messages_.empty()) return std::nullopt;
    const Message m = messages_.front();
    messages_.pop_front();
    return m;
}

void Uring::wake() noexcept {
    if (auto* sqe = get_sqe_flushing()) {
        prep_rw(*sqe, IORING_OP_NOP, -1, nullptr, 0, 0);
        sqe->user_data = driver_user_data;
    }
    submit();
}

Result<void> Uring::register_buffers(std::span<const ::iovec> iov,
                                        std::shared_ptr<void> owner) {
    if (registered_owner_) return std::unexpected(errno_code(EBUSY)); // one table per ring
    const int rc = ::io_uring_register_buffers(&ring_, iov.data(), static_cast<unsigned>(iov.size()));
    if (rc < 0) return std::unexpected(errno_code(-rc));
    registered_owner_ = std::move(owner);
    return {};
}

void Uring::grant_linked(SlotRequest& r, std::uint32_t n) noexcept {
    // The SQ may wrap between two of the n entries: prepare them contiguously, then copy.
    ::io_uring_sqe staged[max_linked_sqes];
    r.grant({staged, n});
    for (std::uint32_t i = 0; i < n; ++i) {
        if (!supports(staged[i].opcode)) stand_in(staged[i], /*in_chain=*/true);
        *get_sqe(ring_) = staged[i];
    }
}

void Uring::stand_in(::io_uring_sqe& sqe, bool in_chain) noexcept {
    int res = -EOPNOTSUPP;
    // A registered index is no fd for a syscall. In a chain the syscall would run now, before
    // the SQEs it must follow — and even if the chain is cancelled or fails first: EOPNOTSUPP.
    const bool fixed = sqe.flags & IOSQE_FIXED_FILE;
    if (in_chain) {
        // the op's stand-in is refused; its failure breaks the chain as the op's would
    } else if (!fixed && sqe.opcode == op_bind)
        res = ::bind(sqe.fd, reinterpret_cast<const ::sockaddr*>(sqe.addr),
                     static_cast<::socklen_t>(sqe.off)) == 0 ? 0 : -errno;
    else if (!fixed && sqe.opcode == op_listen)
        res = ::listen(sqe.fd, static_cast<int>(sqe.len)) == 0 ? 0 : -errno;
    else if (!fixed && sqe.opcode == op_ftruncate)
        res = ::ftruncate(sqe.fd, static_cast<::off_t>(sqe.off)) == 0 ? 0 : -errno;
    const std::uint64_t user_data = sqe.user_data;
    const std::uint8_t link = sqe.flags & (IOSQE_IO_LINK | IOSQE_IO_HARDLINK);
    prep_rw(sqe, IORING_OP_NOP, -1, nullptr, static_cast<std::uint32_t>(res), 0);
    sqe.rw_flags = nop_inject_result;
    sqe.flags = link; // a failure still breaks the chain it is in
    sqe.user_data = user_data;
}

Result<void> Uring::register_files(std::uint32_t count) {
    const int rc = ::io_uring_register_files_sparse(&ring_, count);
    if (rc < 0) return std::unexpected(errno_code(-rc));
    return {};
}

Result<void> Uring::register_buf_ring(void* ring, std::uint32_t entries, std::uint16_t group,
                                         std::shared_ptr<void> owner) {
    ::io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uintptr_t>(ring);
    reg.ring_entries = entries;
    reg.bgid = group;
    const int rc = ::io_uring_register_buf_ring(&ring_, &reg, 0);
    if (rc < 0) return std::unexpected(errno_code(-rc));
    kept_until_exit_.push_back(std::move(owner));
    return {};
}

void Uring::cancel(Completion& c) noexcept {
    send_cancel(c, c.first_pending_sqe());
    submit();
}

void Uring::send_cancel(Completion& c, std::uint32_t index) noexcept {
    ++in_flight_;
    if (auto* sqe = get_sqe_flushing()) {
        prep_cancel_of(*sqe, c, index);
        return;
    }
    parked_cancels_.push_back({&c, index}); // reserved at open(): allocates only past that
}

int Uring::submit() noexcept {
    if (faults_.before_submit)
        if (const int injected = faults_.before_submit(faults_.ctx); injected < 0) return injected;
    for (;;) {
        const int rc = ::io_uring_submit(&ring_);
        if (rc >= 0) return 0;
        if (rc != -EINTR) return rc;
    }
}

void Uring::settle(std::uint32_t finished) noexcept {
    in_flight_ -= finished;
    for (const FollowUp& f : follow_ups_) send_cancel(*f.c, f.index);
    follow_ups_.clear();
    while (!parked_cancels_.empty()) {
        auto* sqe = get_sqe(ring_);
        if (!sqe) break;
        prep_cancel_of(*sqe, *parked_cancels_.back().c, parked_cancels_.back().index);
        parked_cancels_.pop_back();
    }
    while (!waiters_.empty()) {
        SlotRequest& r = *waiters_.front();
        if (!can_grant(r.sqes_needed())) break;
        waiters_.remove(r);
        grant(r);
    }
}

int Uring::send_cancel_any() noexcept {
    if (auto* sqe = get_sqe_flushing()) {
        prep_cancel_user_data(*sqe, 0, IORING_ASYNC_CANCEL_ANY);
        sqe->user_data = driver_user_data;
    }
    return submit();
}

void Uring::drain(std::span<const ReapedCqe> backlog) noexcept {
    if (!open_) return; // the factory failed before the ring existed
    tearing_down_ = true;
    std::uint32_t settled = 0;
    for (const ReapedCqe& cqe : backlog) settled += dispatch(cqe);
    in_flight_ -= settled;
    while (!waiters_.empty()) {
        SlotRequest& r = *waiters_.front();
        waiters_.remove(r);
        r.grant({}); // the driver is gone for it
    }
    settle(0); // parked cancels into the SQ; send_cancel_any submits them
    send_cancel_any();
    ReapedCqe batch[64];
    while (in_flight_ > 0) {
        ::io_uring_cqe* cqe = nullptr;
        __kernel_timespec tick{.tv_sec = 0, .tv_nsec = 100'000'000};
        const int rc = ::io_uring_wait_cqe_timeout(&ring_, &cqe, &tick);
        if (rc == -ETIME) {
            // An op that was not cancellable when the first cancel-any ran (a buffered file
            // read already copying): ask again rather than trust one attempt. If the ring
            // refuses SQEs for good, no cancel can go out and what is in flight may never end
            // (an hour's timer): stop waiting — its buffers stay allocated (leaked, never freed
            // under the kernel) rather than the thread hanging here.
            if (const int s = send_cancel_any(); s < 0 && s != -EBUSY && s != -EAGAIN) break;
            continue;
        }
        if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) break; // ring unusable
        std::uint32_t finished = 0;
        const std::uint32_t n = reap(batch);
        for (std::uint32_t i = 0; i < n; ++i) finished += dispatch(batch[i]);
        settle(finished);
        submit();
    }
}

} // namespace ringbahn::detail
