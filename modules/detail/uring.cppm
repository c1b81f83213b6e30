// SPDX-License-Identifier: MIT
// ringbahn:detail.uring — the io_uring every shipped driver owns: slots, accounting, reaping.
module;
#include <liburing.h>
#include <sys/uio.h>
#include <atomic>
#include <cerrno>
#include <deque>
#include <mutex>
#include <optional>
#include <cstdint>
#include <exception>
#include <memory>
#include <span>
#include <vector>
export module ringbahn:detail.uring;
import :protocol.completion;
import :detail.sqe;
import :protocol.error;
import :events.msg_ring;
import :protocol.slot_request;

namespace ringbahn::detail {

// Seams for fault-injection tests: each hook returns 0 to go on, or a negative errno to act as
// if io_uring_enter had answered it — without entering the kernel, so nothing is lost, only
// retried. Set through LocalOptions::faults.
struct FaultHooksView {
    int (*before_submit)(void* ctx) noexcept = nullptr; // -EBUSY / -EAGAIN
    int (*before_wait)(void* ctx) noexcept = nullptr;   // -EINTR (or -EBUSY, -EAGAIN)
    void* ctx = nullptr;
};

struct RingOptions {
    std::uint32_t entries = 256;    // SQ entries: how many SQEs one submit can carry
    std::uint32_t cq_entries = 0;   // 0 = 16 × entries (room for bursts); clamped by the kernel
    std::uint32_t setup_flags = 0;  // preferred flags; dropped one by one if the kernel refuses
    std::uint32_t sq_thread_idle_ms = 0; // with IORING_SETUP_SQPOLL
    FaultHooksView faults{};
    bool exclusive = false; // one thread submits, reaps and owns every awaiter (LocalDriver)
    std::span<const std::uint8_t> hide_opcodes{}; // test seam: act as if the kernel lacked them
};

struct ReapedCqe {
    std::uint64_t user_data;
    std::int32_t res;
    std::uint32_t flags;
};

// Not thread-safe: a threaded driver guards every member but dispatch() with one lock.
// in_flight_ counts the CQEs still owed for ops and cancels (one per SQE without F_MORE). It is
// a count, not a limit: a server keeps a read in flight on every idle connection, so capping
// ops at the ring's size would let idle connections starve everything else. The CQ may then
// overflow: the kernel keeps the extra CQEs (IORING_FEAT_NODROP, required at open) and hands
// them over when we reap (flush_overflow). Only SQ slots are rationed: a full SQ parks the
// submitter. Memory is what bounds ops in flight.
class Uring {
  public:
    Uring() = default;
    Uring(const Uring&) = delete;
    Uring& operator=(const Uring&) = delete;
    ~Uring();

    // io_uring_queue_init_params with CQSIZE; flags the kernel refuses (-EINVAL) are dropped,
    // in reverse order of preference. -EPERM / -ENOSYS / -ENOMEM come back as errors.
    Result<void> open(const RingOptions& options);

    [[nodiscard]] ::io_uring& ring() noexcept { return ring_; }
    [[nodiscard]] int ring_fd() const noexcept { return ring_.ring_fd; }
    [[nodiscard]] std::uint32_t setup_flags() const noexcept { return setup_flags_; }
    [[nodiscard]] std::uint32_t in_flight() const noexcept { return in_flight_; }
    // Times a reap found CQEs waiting in the kernel's overflow list (the CQ was full), and
    // CQEs the kernel dropped because it could not allocate an overflow entry (out of memory:
    // the ops they belonged to never complete — the only way an op can be lost).
    [[nodiscard]] std::uint64_t cq_overflows() const noexcept {
        return cq_overflows_.load(std::memory_order_relaxed);
    }
    [[nodiscard]] std::uint32_t cqes_dropped() const noexcept {
        return std::atomic_ref<unsigned>(*ring_.cq.koverflow).load(std::memory_order_relaxed);
    }
    [[nodiscard]] bool tearing_down() const noexcept { return tearing_down_; }
    [[nodiscard]] const FaultHooksView& faults() const noexcept { return faults_; }
    // Whether the kernel has this opcode (io_uring_get_probe_ring, once at open).
    [[nodiscard]] inline bool supports(std::uint8_t opcode) const noexcept {
        return (supported_[opcode >> 6] >> (opcode & 63)) & 1;
    }

    // Hot path, inline: a submitter reaches it on every op.
    inline bool acquire(SlotRequest& r) noexcept {
        const std::uint32_t n = r.sqes_needed();
        // A request no ring state could ever grant would wait forever: an Event breaking its
        // contract (sqes_needed() in 1..16), or a ring too small for it: refused with EINVAL.
        if (n - 1 >= max_linked_sqes || n > ring_.sq.ring_entries) [[unlikely]] {
            r.refuse(EINVAL);
            return true;
        }
        // FIFO: a newcomer does not overtake requests already parked.
        if (waiters_.empty() && can_grant(n)) [[likely]] {
            grant(r);
            return true;
        }
        waiters_.push_back(r);
        return false;
    }
    // The one-SQE fast path (Submission, through a driver's sqe_now): an SQE at once, or
    // nullptr, and then acquire() decides (park, or refuse). No function pointer, one space test.
    [[gnu::always_inline]] inline ::io_uring_sqe* sqe_now() noexcept {
        ::io_uring_sq& sq = ring_.sq;
        const unsigned head = std::atomic_ref<unsigned>(*sq.khead).load(std::memory_order_acquire);
        if (!waiters_.empty() || sq.sqe_tail - head >= sq.ring_entries) [[unlikely]]
            return nullptr; // FIFO: parked requests go first; or the SQ is full
        ++in_flight_;
        return &sq.sqes[sq.sqe_tail++ & sq.ring_mask];
    }
    // After the op filled sqe_now()'s SQE: an opcode the kernel lacks gets its stand-in.
    [[gnu::always_inline]] inline void sqe_filled(::io_uring_sqe& sqe) noexcept {
        if (sqe.opcode >= all_supported_below_ && !supports(sqe.opcode)) [[unlikely]]
            stand_in(sqe);
    }
    inline bool withdraw(SlotRequest& r) noexcept { return waiters_.remove(r); }
    [[nodiscard]] inline bool has_waiters() const noexcept { return !waiters_.empty(); }
    // A cancel aimed at c's first SQE still running (see Completion: links follow up).
    void cancel(Completion& c) noexcept;

    // user_data bit 63 marks a message another ring posted here (events::MsgRing): no user-space
    // address has it, so no CQE of ours is mistaken for one, and it is never dereferenced.
    static constexpr std::uint64_t message_tag = events::MsgRing::message_bit;
    using Message = events::RingMessage;
    // Messages received and not taken yet, oldest first (at most max_messages are kept; the
    // rest are counted in messages_dropped()).
    [[nodiscard]] std::optional<Message> take_message() noexcept;
    [[nodiscard]] std::uint64_t messages_dropped() const noexcept { return messages_dropped_; }

    // Queues a NOP of the driver's own (user_data 0) and submits: wakes a thread waiting for
    // CQEs.
    void wake() noexcept;

    // io_uring_submit, retried on -EINTR; returns 0 or -errno (-EBUSY/-EAGAIN: reap first).
    int submit() noexcept;

    // Copies up to out.size() ready CQEs and frees their CQ slots. Only the reaping thread
    // calls it; inline, reading the CQ ring as io_uring_for_each_cqe does.
    inline std::uint32_t reap(std::span<ReapedCqe> out) noexcept {
        if (const std::uint32_t n = reap_ring(out)) [[likely]]
            return n;
        // Tested inline, so a turn that drains the CQ pays one load, and the flush call only
        // when the kernel kept CQEs aside.
        if (!overflow_flagged()) [[likely]]
            return 0;
        flush_overflow();
        return reap_ring(out);
    }
    // The exclusive driver's reap: each CQE dispatched where it lies, its CQ slot freed first,
    // then settle(). A coroutine it resumes may step the driver again (a nested poll() reaps
    // CQEs posted after our snapshot of the tail, and moves the head past it): the head is
    // re-read after every CQE, and the batch ends once it reaches or passes the snapshot, so
    // nothing is dispatched twice or read from a slot the kernel has reused. The ring's
    // geometry is read once, not after every resume. Returns the CQEs handled (approximate
    // when nested: each level counts its own batch).
    inline std::uint32_t reap_and_dispatch() noexcept {
        unsigned* const khead = ring_.cq.khead;
        unsigned* const ktail = ring_.cq.ktail;
        const ::io_uring_cqe* const cqes = ring_.cq.cqes;
        const unsigned mask = ring_.cq.ring_mask;
        std::uint32_t handled = 0;
        for (bool flushed = false;;) {
            const unsigned tail = std::atomic_ref<unsigned>(*ktail).load(std::memory_order_acquire);
            const unsigned start = *khead; // only we advance the head
            if (start == tail) {
                if (flushed || !overflow_flagged()) [[likely]]
                    return handled;
                flush_overflow();
                flushed = true;
                continue;
            }
            flushed = false;
            handled += tail - start;
            const bool fast = exclusive_ && !tearing_down_; // else every CQE goes to dispatch()
            // Wrap-safe "head before tail": a nested reap may have moved the head past it.
            // in_flight_ is counted down as each CQE is handled (nested reaps count their own).
            for (unsigned head; static_cast<std::int32_t>(tail - (head = *khead)) > 0;) {
                const ::io_uring_cqe& c = cqes[head & mask];
                const std::uint64_t user_data = c.user_data;
                const std::int32_t res = c.res;
                const std::uint32_t flags = c.flags;
                std::atomic_ref<unsigned>(*khead).store(head + 1, std::memory_order_release);
                // Most CQEs: the only CQE of a plain op, resumed right here. One test for a
                // message, a cancel's or a link SQE's tag; one for the driver's own (0).
                if (fast && (user_data & (message_tag | Completion::tag_mask)) == 0 && user_data != 0 &&
                    Completion::complete_exclusive(user_data, res, flags)) [[likely]] {
                    --in_flight_;
                    continue;
                }
                in_flight_ -= dispatch(ReapedCqe{user_data, res, flags});
            }
            settle(0);
        }
    }
    // Moves the CQEs the kernel kept aside into the CQ (enter with GETEVENTS) and counts it.
    // Only the reaping thread calls it.
    void flush_overflow() noexcept;

  private:
    inline std::uint32_t reap_ring(std::span<ReapedCqe> out) noexcept {
        ::io_uring_cq& cq = ring_.cq;
        const unsigned head = *cq.khead; // ours: only we advance it
        const unsigned tail = std::atomic_ref<unsigned>(*cq.ktail).load(std::memory_order_acquire);
        const unsigned n = tail - head < out.size() ? tail - head : unsigned(out.size());
        for (unsigned i = 0; i < n; ++i) out[i] = cqe_at(head + i);
        std::atomic_ref<unsigned>(*cq.khead).store(head + n, std::memory_order_release);
        return n;
    }
    // The CQE at CQ position `index`. open() never sets IORING_SETUP_CQE32 (whose entries
    // take two slots each), so an entry is one slot.
    [[gnu::always_inline]] inline ReapedCqe cqe_at(unsigned index) const noexcept {
        const ::io_uring_cqe& c = ring_.cq.cqes[index & ring_.cq.ring_mask];
        return {c.user_data, c.res, c.flags};
    }
    // The kernel flags CQEs it kept aside while the CQ was full (flush_overflow moves them in).
    [[gnu::always_inline]] inline bool overflow_flagged() const noexcept {
        return std::atomic_ref<unsigned>(*ring_.sq.kflags).load(std::memory_order_relaxed) &
               IORING_SQ_CQ_OVERFLOW;
    }

  public:
    // Routes one CQE; returns how many in-flight units it settled (0 or 1). Touches no
    // member but tearing_down_: a threaded driver calls it without its lock.
    // Touches no member but tearing_down_ and follow_ups_, which only the reaping thread uses.
    inline std::uint32_t dispatch(const ReapedCqe& cqe) noexcept {
        if (cqe.user_data == 0) return 0; // the driver's own (wake-ups, cancel-any)
        if (cqe.user_data & message_tag) [[unlikely]]
            return on_message(cqe);
        const int aim = Completion::dispatch(cqe.user_data, cqe.res, cqe.flags, tearing_down_,
                                             exclusive_);
        if (aim != Completion::no_cancel) [[unlikely]]
            follow_ups_.push_back({reinterpret_cast<Completion*>(cqe.user_data & ~Completion::tag_mask),
                                   static_cast<std::uint32_t>(aim)});
        return (cqe.flags & IORING_CQE_F_MORE) ? 0 : 1;
    }
    // After dispatching: settle the count, queue parked cancels, grant parked requests.
    // Submitting what that prepared is the caller's (a loop turn batches it).
    void settle(std::uint32_t finished) noexcept;

    // io_uring_register_buffers; `owner` (the memory) is kept until the ring is closed.
    Result<void> register_buffers(std::span<const ::iovec> iov, std::shared_ptr<void> owner);
    // A sparse table of `count` registered-file slots (filled by events::FilesUpdate).
    Result<void> register_files(std::uint32_t count);
    // io_uring_register_buf_ring for group `group`: `entries` io_uring_buf slots at `ring`,
    // kept (with `owner`) until the ring is closed.
    Result<void> register_buf_ring(void* ring, std::uint32_t entries, std::uint16_t group,
                                   std::shared_ptr<void> owner);

    // Driver teardown, steps 3–4 of the Drive contract. Blocks until nothing is in flight.
    // `backlog`: CQEs a threaded driver reaped and has not dispatched yet, dispatched first.
    void drain(std::span<const ReapedCqe> backlog = {}) noexcept;

  private:
    static constexpr std::uint32_t max_linked_sqes = 16;

    inline bool can_grant(std::uint32_t n) noexcept {
        if (sq_space_left(ring_) >= n) [[likely]]
            return true;
        return make_sq_space(n);
    }
    // Submits to free SQ slots (unless the kernel pushes back with -EBUSY). With SQPOLL the
    // kernel thread frees them as it consumes the SQ, so wait for that (microseconds): parking
    // would wait for a CQE, which idle ops may never produce.
    bool make_sq_space(std::uint32_t n) noexcept;

    inline void grant(SlotRequest& r) noexcept {
        const std::uint32_t n = r.sqes_needed();
        in_flight_ += n;
        if (n == 1) [[likely]] {
            ::io_uring_sqe* sqe = get_sqe(ring_);
            r.grant({sqe, 1});
            sqe_filled(*sqe);
            return;
        }
        grant_linked(r, n);
    }
    // An op the kernel lacks: its SQE becomes a NOP that posts the result of the syscall doing
    // the same (bind, listen, ftruncate), or -EOPNOTSUPP — the op's CQE, without the op.
    static void stand_in(::io_uring_sqe& sqe, bool in_chain = false) noexcept;
    void grant_linked(SlotRequest& r, std::uint32_t n) noexcept;
    ::io_uring_sqe* get_sqe_flushing() noexcept; // flushes the SQ once if it is full
    static void prep_cancel_of(::io_uring_sqe& sqe, const Completion& c, std::uint32_t index) noexcept;
    int send_cancel_any() noexcept; // submit()'s answer: 0 or a negative errno

    inline std::uint32_t on_message(const ReapedCqe& cqe) noexcept {
        std::lock_guard lock(messages_mutex_);
        if (messages_.size() < max_messages)
            messages_.push_back({cqe.user_data & ~message_tag, cqe.res});
        else
            ++messages_dropped_;
        return 0; // never counted in flight: nobody here submitted it
    }
    static constexpr std::size_t max_messages = 4096;
    struct FollowUp {
        Completion* c;
        std::uint32_t index;
    };
    void send_cancel(Completion& c, std::uint32_t index) noexcept;

    // Declared first, destroyed last: registered memory outlives the ring (see ~Uring).
    std::shared_ptr<void> registered_owner_;
    std::vector<std::shared_ptr<void>> kept_until_exit_; // provided-buffer rings' memory
    std::uint64_t supported_[4] = {~0ull, ~0ull, ~0ull, ~0ull};
    std::uint32_t all_supported_below_ = 255; // opcodes below it need no look at supported_
    ::io_uring ring_{};
    bool open_ = false;
    bool tearing_down_ = false;
    bool exclusive_ = false;
    FaultHooksView faults_{};
    std::uint32_t setup_flags_ = 0;
    std::uint32_t in_flight_ = 0;
    std::atomic<std::uint64_t> cq_overflows_{0}; // read by any thread, written by the reaper
    SlotWaitList waiters_;
    // Cancels that found no SQE (SQ full and the kernel answered -EBUSY): sent at the next
    // settle(). Reserved at open() for a CQ's worth; grows (allocates) only past that.
    std::vector<FollowUp> parked_cancels_;
    // Cancels the reaper's dispatch asked for (links: see Completion), sent at settle().
    std::vector<FollowUp> follow_ups_;
    std::mutex messages_mutex_; // messages are taken by the driver's owner, maybe off the reaper
    std::deque<Message> messages_;
    std::atomic<std::uint64_t> messages_dropped_{0};
};

} // namespace ringbahn::detail
