// SPDX-License-Identifier: MIT
// ringbahn:submission — the awaitable that ties one Event to one driver.
module;
#include <liburing.h>
#include <atomic>
#include <coroutine>
#include <exception>
#include <cstdint>
#include <optional>
#include <span>
#include <utility>
export module ringbahn:submission;
import :cancellation;
import :completion;
import :drive;
import :error;
import :event;
import :op_handle;
import :slot_request;

namespace ringbahn {

// What `co_await submit(driver, event)` gives back: the event — and with it the buffers the
// caller moved in — and the op's result (CQE res ≥ 0, or its errno as an error_code).
export template <class E>
struct Completed {
    E event;
    Result<std::uint32_t> result;
};

// One op on one driver. Lifecycle, all on the thread that owns the awaiting coroutine unless
// said otherwise:
//   idle     → waiting   await_suspend: a Completion is made, the driver asked for SQEs.
//   waiting  → granted   the driver fills the SQEs (maybe on its reaping thread).
//   waiting  → gone      driver teardown: never granted; the driver must not be touched.
//   granted  → done      the Completion resumed us (on the reaping thread); await_resume.
// Destroyed while waiting: withdrawn from the driver, freed at once (the kernel never saw it).
// Destroyed while granted: the event's storage moves into the Completion as a Cancellation and
// an ASYNC_CANCEL goes out now; the storage is freed after the op's last CQE.
export template <class E, class D>
class [[nodiscard]] Submission : private SlotRequest {
    static_assert(Event<E> && Drive<D>);

  public:
    Submission(D& driver, E event)
        : SlotRequest(event.sqes_needed(), &Submission::on_grant), driver_(&driver),
          event_(std::move(event)) {}
    // Movable until awaited (combinators take awaitables by value); never after.
    Submission(Submission&& other) noexcept
        : SlotRequest(other.sqes_needed(), &Submission::on_grant), driver_(other.driver_),
          event_(std::move(other.event_)) {
        if (other.completion_ != nullptr) std::terminate(); // moved while in flight: a bug
    }
    Submission(const Submission&) = delete;
    Submission& operator=(const Submission&) = delete;

    ~Submission() {
        if (completion_ == nullptr) return; // never awaited, or finished
        Phase phase = phase_.load(std::memory_order_acquire);
        if (phase == Phase::waiting) {
            if (driver_->withdraw(*this)) {
                delete_unsubmitted();
                return;
            }
            phase = phase_.load(std::memory_order_acquire); // granted meanwhile
        }
        if (phase == Phase::gone) {
            delete_unsubmitted();
            return;
        }
        // In the kernel: it keeps the storage until the op's last CQE.
        Completion* c = std::exchange(completion_, nullptr);
        if (c->abandon(std::move(*event_).cancel())) driver_->cancel(*c);
    }

    bool await_ready() const noexcept { return false; }

    void await_suspend(std::coroutine_handle<> awaiting) {
        completion_ = new Completion(awaiting, sqes_needed());
        phase_.store(Phase::waiting, std::memory_order_relaxed);
        // From here the op may complete and resume `awaiting` on another thread before
        // acquire returns, destroying this awaiter: touch no member afterwards.
        driver_->acquire(*this);
    }

    [[gnu::always_inline]] inline Completed<E> await_resume() noexcept {
        Completion* c = std::exchange(completion_, nullptr);
        if constexpr (FinishesResult<E>) {
            Result<std::uint32_t> result = event_->finish(c->result(), c->flags());
            c->consume();
            return Completed<E>{std::move(*event_), std::move(result)};
        } else {
            const std::int32_t res = c->result();
            c->consume();
            return Completed<E>{std::move(*event_), cqe_result(res)};
        }
    }

  private:
    enum class Phase : std::uint8_t { idle, waiting, granted, gone };

    static void on_grant(SlotRequest& request, std::span<::io_uring_sqe> sqes) noexcept {
        auto& self = static_cast<Submission&>(request);
        if (sqes.empty()) {
            self.phase_.store(Phase::gone, std::memory_order_release);
            return;
        }
        Completion& c = *self.completion_;
        if constexpr (RecordsSqeResults<E>) c.record_sqe_results(self.event_->sqe_results());
        self.event_->prepare(detail::PrepareKeyMaker::make(), sqes);
        if (sqes.size() == 1) [[likely]]
            sqes[0].user_data = c.op_user_data();
        else
            for (std::uint32_t i = 0; i < sqes.size(); ++i) sqes[i].user_data = c.sqe_user_data(i);
        if constexpr (Targetable<E>) self.event_->granted(c.op_user_data());
        self.phase_.store(Phase::granted, std::memory_order_release);
    }

    // The op never reached the kernel: free the state; the event dies with us, normally.
    void delete_unsubmitted() noexcept {
        Completion* c = std::exchange(completion_, nullptr);
        c->discard();
    }

    D* driver_;
    std::optional<E> event_;
    Completion* completion_ = nullptr;
    std::atomic<Phase> phase_{Phase::idle};
};

// `co_await submit(driver, Event{...})`: the only way an event reaches the kernel.
export template <Event E, Drive D>
[[nodiscard]] inline Submission<E, D> submit(D& driver, E event) {
    return Submission<E, D>(driver, std::move(event));
}

} // namespace ringbahn
