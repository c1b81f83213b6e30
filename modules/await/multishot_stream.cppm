// SPDX-License-Identifier: MIT
// ringbahn:await.multishot_stream — MultishotStream<E, D>: a multishot op as a stream of items
// (connections, chunks). (io::Stream is something else: a pipe or unix socket.)
module;
#include <liburing.h>
#include <atomic>
#include <cerrno>
#include <coroutine>
#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <span>
#include <system_error>
#include <utility>
export module ringbahn:await.multishot_stream;
import :buffers.provided_buffers;
import :protocol.completion;
import :drive.drive;
import :protocol.error;
import :protocol.event;
import :events.buffer_select;
import :events.multishot;
import :protocol.slot_request;
import :await.operation;
import :await.stop_scope;
import :tasks.task;
import :drive.poster;

namespace ringbahn {

// MultishotEvent — an Event whose one SQE posts many CQEs (IORING_CQE_F_MORE on all but the last).
// A model also guarantees:
//  * item(cqe) turns a CQE with res ≥ 0 into the stream's Item, taking ownership of what the
//    kernel produced (an fd, a buffer);
//  * ends(cqe): that CQE is the last the stream will ever give (end of file);
//  * refills(): the ProvidedBuffers the op takes buffers from, or nullptr;
//  * std::move(e).cancel() gives back what any *one* CQE produced, each time it runs.
export template <class E>
concept MultishotEvent = Event<E> && requires(E& e, const E& ce, Cqe c) {
    typename E::Item;
    { e.item(c) } noexcept -> std::same_as<Result<typename E::Item>>;
    { ce.ends(c) } noexcept -> std::same_as<bool>;
    { ce.refills() } noexcept -> std::same_as<ProvidedBuffers*>;
};

// `while (auto item = co_await stream.next()) { ... }`. The op is armed on the first next()
// and stays armed between calls: items that arrive meanwhile wait in the Completion's inbox.
// When the kernel ends the op on its own it is re-armed transparently — at once after a final
// item, after a buffer came back for ENOBUFS (the ProvidedBuffers ran dry; nothing is lost: the data
// waits in the socket) — unless the error is final, which next() then returns (and keeps
// returning). Destroying the stream cancels the op; the CQEs still in the inbox or still to come
// are given back (accepted fds closed, buffers returned to their ring). One awaiter at a time:
// a next() while another is suspended is EBUSY at once (and leaves the first waiting).
// Immovable (the driver holds its address while it waits for an SQE).
export template <MultishotEvent E, Drive D>
class MultishotStream : private detail::Operation<D> {
    using Op = detail::Operation<D>;
    using typename Op::Phase;
    using Op::driver_;
    using Op::phase_;
    using Op::completion_; // the op's state while armed

  public:
    using Item = typename E::Item;

    MultishotStream(D& driver, E event) : Op(driver), event_(std::move(event)) {}
    MultishotStream(const MultishotStream&) = delete;
    MultishotStream& operator=(const MultishotStream&) = delete;

    // CQEs in the inbox, and those still to come, go to the event's cancel (Operation::leave).
    // A coroutine still suspended in next() is left suspended, never resumed, and may be
    // destroyed after the stream (NextCqe::orphan).
    ~MultishotStream() {
        if (next_ != nullptr) next_->orphan();
        if (in_next_ != nullptr) in_next_->s = nullptr;
        if (completion_ == nullptr) return;
        this->leave([this](Completion& c) noexcept { return c.close_stream(std::move(event_).cancel()); });
    }

    // The next item, or the error that ended the stream.
    Task<Result<Item>> next() {
        if (in_next_ != nullptr) co_return std::unexpected(std::make_error_code(std::errc::device_or_resource_busy));
        InNext running(*this);
        for (;;) {
            if (eof_) co_return event_.item({0, 0});
            if (end_) co_return std::unexpected(*end_);
            const Cqe cqe = co_await NextCqe{*this};
            if (!cqe.more() && completion_ != nullptr) { // the kernel is done with this arming
                std::exchange(completion_, nullptr)->finish_stream();
                phase_.store(Phase::idle, std::memory_order_relaxed);
            }
            if (cqe.res >= 0) {
                Result<Item> item = event_.item(cqe);
                if (event_.ends(cqe)) eof_ = true;
                co_return item;
            }
            if (cqe.res == -ENOBUFS && event_.refills() != nullptr) {
                if (completion_ == nullptr) co_await event_.refills()->when_available(Poster(*driver_));
                continue; // re-armed by the next NextCqe
            }
            // The op goes on (F_MORE), or ended on an error that may pass (EMFILE at an accept,
            // ECONNRESET): the next next() re-arms it. Only an op that can never work ends it.
            if (cqe.more() || !final_error(-cqe.res)) co_return std::unexpected(errno_code(-cqe.res));
            end_ = errno_code(-cqe.res);
        }
    }

    // Whether the op is with the kernel now; how many times it was armed (1 + re-arms).
    [[nodiscard]] bool armed() const noexcept { return completion_ != nullptr; }
    [[nodiscard]] std::uint32_t arms() const noexcept { return arms_; }

  private:
    // Errors that re-arming would only repeat: the fd or the op's arguments are wrong.
    static bool final_error(int err) noexcept {
        return err == EBADF || err == EINVAL || err == ENOTSOCK || err == EOPNOTSUPP || err == EFAULT;
    }

    // Marks a next() running, for as long as its frame lives (a frame may outlive the stream).
    struct InNext {
        MultishotStream* s;
        explicit InNext(MultishotStream& stream) noexcept : s(&stream) { s->in_next_ = this; }
        InNext(const InNext&) = delete;
        ~InNext() {
            if (s != nullptr) s->in_next_ = nullptr;
        }
    };

    // Waits for the op's next CQE, arming the op first if it is not armed. Asked to stop (a
    // when_any loser), it gives up waiting and yields ECANCELED marked F_MORE: the op stays
    // armed, and what arrives later waits in the inbox for the next next().
    struct NextCqe {
        static constexpr Cqe stopped{-ECANCELED, IORING_CQE_F_MORE};
        MultishotStream* s; // null once the stream went away first (orphan)
        std::optional<Cqe> ready{};
        std::coroutine_handle<> handle{};
        StopScope* scope = nullptr;
        bool waiting = false;
        bool posted = false;
        // Through a Poster, which checks the driver is alive: this awaiter may be destroyed
        // after its driver (a frame the user owns), and must not unpost from a dead one.
        std::optional<Poster> poster{};

        NextCqe(MultishotStream& stream) noexcept : s(&stream) {}
        NextCqe(const NextCqe&) = delete;
        // Destroyed while waiting (the coroutine calling next() was destroyed): unregister.
        ~NextCqe() {
            if (scope) scope->detach();
            if (posted) poster->unpost(handle);
            if (s == nullptr) return;
            if (waiting && s->completion_ != nullptr) s->completion_->forget_waiter();
            if (s->next_ == this) s->next_ = nullptr;
        }
        // The stream is destroyed while we wait: nobody will resume us (its op is closed, a
        // posting is taken back), and the stream must not be touched from here on. The frame
        // stays suspended until its owner destroys it.
        void orphan() noexcept {
            if (posted) poster->unpost(handle);
            posted = false;
            waiting = false;
            s = nullptr;
        }

        bool await_ready() const noexcept { return false; }
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) {
            handle = h;
            s->next_ = this;
            const bool arm = s->completion_ == nullptr;
            if (arm) {
                s->completion_ = new Completion({}, 1);
                s->completion_->make_stream();
            }
            bool wait = true;
            const auto do_register = [&]() noexcept {
                ready = s->completion_->take(h); // empty when arming: registers h for the first CQE
                waiting = wait = !ready;
            };
            if (StopScope* sc = stop_scope_of(h)) {
                scope = sc;
                // Under the scope's lock: a resumption by K detaches first, so it waits for us.
                if (!sc->attach_then(this, &NextCqe::on_stop, do_register)) {
                    scope = nullptr;
                    if (arm) std::exchange(s->completion_, nullptr)->discard(); // never armed
                    ready = stopped;
                    return false;
                }
            } else {
                do_register();
            }
            if (!arm) return wait;
            ++s->arms_;
            const int refused = s->request(1, &MultishotStream::on_grant); // may resume h elsewhere
            if (refused == 0) return true;
            // Refused inside acquire (another thread's LocalDriver, a ring too small): nothing
            // reached the kernel and nobody else will resume h. The stream ends this arming
            // with the refusal, as if the kernel had answered it.
            if (scope) std::exchange(scope, nullptr)->detach();
            s->completion_->forget_waiter();
            std::exchange(s->completion_, nullptr)->discard();
            s->phase_.store(Phase::idle, std::memory_order_relaxed);
            waiting = false;
            ready = Cqe{-refused, 0};
            return false;
        }
        Cqe await_resume() noexcept {
            if (scope) std::exchange(scope, nullptr)->detach();
            s->next_ = nullptr;
            waiting = false;
            posted = false;
            if (ready) return *ready;
            return *s->completion_->take(); // K resumed us after appending one
        }

        // Under the scope's lock. If K has not taken our handle yet, nobody will: we resume
        // ourselves through the driver, with `stopped`.
        static void on_stop(void* leaf) noexcept {
            auto& self = *static_cast<NextCqe*>(leaf);
            if (!self.waiting || self.s == nullptr || self.s->completion_ == nullptr || !self.s->completion_->forget_waiter()) return;
            self.ready = stopped;
            self.waiting = false;
            self.posted = true;
            self.poster.emplace(*self.s->driver_);
            self.poster->post(self.handle);
        }
    };

    static void on_grant(SlotRequest& request, std::span<::io_uring_sqe> sqes) noexcept {
        auto& self = static_cast<MultishotStream&>(request);
        if (!self.slots_given(sqes)) return;
        self.event_.prepare(detail::PrepareKeyMaker::make(self.driver_->liveness().id()), sqes);
        sqes[0].user_data = self.completion_->op_user_data();
        self.mark_granted();
    }

    E event_;
    std::optional<std::error_code> end_; // the final error, returned from now on
    bool eof_ = false;                   // end of file: an empty item from now on
    std::uint32_t arms_ = 0;
    NextCqe* next_ = nullptr; // the next() suspended now, if any
    InNext* in_next_ = nullptr; // the next() running now, if any
};

// Streams over the multishot events.
export template <Drive D>
[[nodiscard]] MultishotStream<events::AcceptMultishot, D> accept_stream(D& driver, int listen_fd) {
    return {driver, events::AcceptMultishot{listen_fd}};
}
export template <Drive D>
[[nodiscard]] MultishotStream<events::RecvMultishot, D> recv_stream(D& driver, int fd,
                                                           std::shared_ptr<ProvidedBuffers> ring) {
    return {driver, events::RecvMultishot{fd, std::move(ring)}};
}
export template <Drive D>
[[nodiscard]] MultishotStream<events::PollMultishot, D> poll_stream(D& driver, int fd, unsigned mask) {
    return {driver, events::PollMultishot{fd, mask}};
}

} // namespace ringbahn
