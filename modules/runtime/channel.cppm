// SPDX-License-Identifier: MIT
// ringbahn:runtime.channel — a bounded many-senders, one-receiver queue between drivers' threads.
module;
#include <cerrno>
#include <coroutine>
#include <cstddef>
#include <deque>
#include <expected>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <utility>
export module ringbahn:runtime.channel;
import :protocol.error;
import :drive.poster;
import :drivers.local;
import :drivers.remote_inbox; // DeferredWakes
import :await.stop_scope;

namespace ringbahn {

namespace detail {

template <class T>
struct ChannelState;

// A sender parked on a full channel. Its value moves into the queue only when room is made
// for it (by the receiver, under the lock), so a sender destroyed while parked takes its value
// with it, and one destroyed after it was let in has sent: nothing is lost or sent twice.
template <class T>
struct ParkedSender {
    std::optional<T>* value;
    std::coroutine_handle<> handle; // cleared once let in, refused or stopped
    std::optional<Poster> poster;
    bool* woken;
    ParkedSender* next = nullptr;
    ParkedSender* prev = nullptr;

    void wake() noexcept { // under the channel's lock
        *woken = true;
        poster->post(std::exchange(handle, {}));
    }
};

template <class T>
struct ChannelState {
    std::mutex mutex;
    std::deque<T> queue;
    std::size_t capacity = 1;
    bool closed = false;
    // The receiver waiting for a value; woken, not handed one — the value stays queued until
    // the receiver resumes and takes it, so a receiver destroyed after its wake-up loses nothing.
    std::coroutine_handle<> receiver;
    std::optional<Poster> receiver_poster;
    bool* receiver_woken = nullptr;
    ParkedSender<T>* first = nullptr;
    ParkedSender<T>* last = nullptr;

    void wake_receiver() noexcept { // under the lock
        if (!receiver) return;
        *receiver_woken = true;
        receiver_poster->post(std::exchange(receiver, {}));
    }
    void unlink(ParkedSender<T>& s) noexcept { // under the lock
        (s.prev ? s.prev->next : first) = s.next;
        (s.next ? s.next->prev : last) = s.prev;
        s.next = s.prev = nullptr;
    }
    // A value left the queue: the first parked sender's value takes its place.
    void let_one_in() noexcept { // under the lock
        if (!first || queue.size() >= capacity) return;
        ParkedSender<T>& s = *first;
        try {
            queue.push_back(std::move(**s.value)); // strong guarantee: on a throw, unchanged
        } catch (...) {
            return; // the sender stays first in line; the next receive lets it in
        }
        unlink(s);
        s.value->reset();
        s.wake();
    }
};

// What a Send and a Recv share: the coroutine parked, the driver that wakes it, the stop scope
// it may be attached to, and the error it resumes with.
class ChannelWaiter {
  protected:
    ChannelWaiter() = default;
    // Moved before it is awaited (into when_any): nothing is parked yet, nothing to carry.
    ChannelWaiter(ChannelWaiter&& o) noexcept : spent_(o.spent_), error_(o.error_) {}
    ChannelWaiter& operator=(ChannelWaiter&&) = delete;
    bool fail(int e) noexcept {
        error_ = e;
        return false;
    }
    // Parks the awaiting coroutine, attached to its stop scope if it has one, so no stop request
    // falls between the two. `try_now` (no scope held) does what needs no wait — it may throw
    // (a value's move, std::bad_alloc), and the exception reaches the awaiter — and returns
    // whether it did; `park` (under the scope's lock: must not throw) links the waiter unless
    // the channel changed since, and answers parked, done (an error set), or try again.
    enum class Parked { yes, no, again };
    template <class P, class TryNow, class Park>
    bool park_under_scope(std::coroutine_handle<P> h, void (*on_stop)(void*) noexcept, TryNow&& try_now,
                          Park&& park) {
        if (spent_) return fail(EINVAL); // awaited again: touch nothing
        spent_ = true;
        StopScope* scope = stop_scope_of(h);
        for (;;) {
            if (try_now()) return false;
            if (error_) return false;
            Parked parked = Parked::again;
            if (!scope) {
                parked = park();
            } else if (!scope->attach_then(this, on_stop, [&]() noexcept { parked = park(); })) {
                return fail(ECANCELED);
            }
            if (parked == Parked::yes) {
                scope_ = scope;
                return true;
            }
            if (scope) scope->detach(); // not waiting: nothing to stop
            if (parked == Parked::no) return false;
        }
    }
    // Before the result is touched, and first thing on destruction: no stop reaches us after.
    void leave_scope() noexcept {
        if (scope_) std::exchange(scope_, nullptr)->detach();
    }
    // A waiter woken (posted) but destroyed before it resumed: its driver must forget it.
    void forget_wake_up() noexcept {
        if (woken_) poster_->unpost(handle_);
    }

    std::coroutine_handle<> handle_;
    std::optional<Poster> poster_;
    // While parked: the driver waits for our wake-up rather than call it a deadlock.
    std::optional<drivers::LocalDriver::PostExpected> expected_;
    StopScope* scope_ = nullptr;
    bool woken_ = false; // posted, not resumed yet (under the channel's lock)
    bool spent_ = false; // awaited once: a second await touches nothing (EINVAL)
    int error_ = 0;
};

} // namespace detail

// A bounded queue of T from any number of senders on any threads to one receiver, each
// awaiting on its own LocalDriver (a Runtime core, or any thread running a LocalDriver's loop).
// `co_await ch.send(v)` waits while the channel is full; `co_await ch.recv()` while it is
// empty. Waking a waiter on another thread is a post to its driver: its remote inbox and an
// IORING_OP_MSG_RING. Copies share one channel; the last one dropped (with every awaiter gone)
// frees the values still queued. Senders are let in first come, first served.
//
// Cancellation, by destroying the awaiting coroutine or by a stop request (when_any,
// with_timeout): a recv stopped or destroyed while it waits loses no value (values leave the
// queue only when a receiver resumes; a stopped recv resumes with ECANCELED); a send stopped or
// destroyed while it waits has not sent (ECANCELED; its value is destroyed with it). A wait
// that was already woken with a value when the stop came resumes with that value, like an op
// that completed before its cancel. Awaiters are destroyed on the thread that awaits them.
// Errors: EPIPE once the channel is closed (send at once; recv once the queue is empty),
// EBUSY for a second receiver waiting at the same time, EPERM for a wait on a thread where no
// LocalDriver loop runs (nothing could wake it), EINVAL on a moved-from channel.
export template <class T>
class Channel {
    using State = detail::ChannelState<T>;

  public:
    // EINVAL for a capacity of 0.
    [[nodiscard]] static Result<Channel> create(std::size_t capacity) {
        if (capacity == 0) return std::unexpected(errno_code(EINVAL));
        auto state = std::make_shared<State>();
        state->capacity = capacity;
        return Channel(std::move(state));
    }

    class Send : detail::ChannelWaiter {
      public:
        Send(std::shared_ptr<State> s, T v) : state_(std::move(s)), value_(std::move(v)) {}
        Send(Send&& o) : ChannelWaiter(std::move(o)), state_(std::move(o.state_)), value_(std::move(o.value_)) {}
        ~Send() {
            leave_scope();
            if (!parked_) return;
            std::lock_guard lock(state_->mutex);
            if (parked_->handle) state_->unlink(*parked_); // still parked: not sent
            forget_wake_up();
        }
        bool await_ready() const noexcept { return false; }
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) {
            if (!state_) return fail(EINVAL);
            auto try_now = [&] {
                detail::DeferredWakes wake_after_unlock; // declared first: ends after the lock
                std::lock_guard lock(state_->mutex);
                if (state_->closed) return fail(EPIPE);
                if (state_->queue.size() >= state_->capacity || state_->first) return false;
                state_->queue.push_back(std::move(*value_)); // may throw: nothing changed then
                value_.reset();
                state_->wake_receiver();
                return true;
            };
            return park_under_scope(h, &Send::on_stop, try_now, [&]() noexcept {
                std::lock_guard lock(state_->mutex);
                if (state_->closed) return fail(EPIPE), Parked::no;
                if (state_->queue.size() < state_->capacity && !state_->first) return Parked::again;
                auto* here = drivers::LocalDriver::current();
                if (!here) return fail(EPERM), Parked::no;
                handle_ = h;
                poster_.emplace(*here);
                expected_.emplace(*here);
                parked_.emplace(detail::ParkedSender<T>{&value_, h, poster_, &woken_});
                parked_->prev = state_->last;
                (state_->last ? state_->last->next : state_->first) = &*parked_;
                state_->last = &*parked_;
                return Parked::yes;
            });
        }
        Result<void> await_resume() noexcept {
            leave_scope();
            expected_.reset();
            if (parked_) {
                std::lock_guard lock(state_->mutex);
                parked_.reset();
                woken_ = false;
                if (value_ && error_ == 0) error_ = EPIPE; // woken by close(), not let in
            }
            if (error_) return std::unexpected(errno_code(error_));
            return {};
        }

      private:
        // A stop request (any thread, under the scope's lock): a sender still parked leaves
        // the line unsent and resumes with ECANCELED.
        static void on_stop(void* self) noexcept {
            auto& s = *static_cast<Send*>(self);
            std::lock_guard lock(s.state_->mutex);
            if (!s.parked_ || !s.parked_->handle) return; // let in or refused already
            s.state_->unlink(*s.parked_);
            s.parked_->handle = {};
            s.error_ = ECANCELED;
            s.woken_ = true;
            s.poster_->post(s.handle_);
        }
        std::shared_ptr<State> state_;
        std::optional<T> value_;
        std::optional<detail::ParkedSender<T>> parked_;
    };

    class Recv : detail::ChannelWaiter {
      public:
        explicit Recv(std::shared_ptr<State> s) noexcept : state_(std::move(s)) {}
        Recv(Recv&& o) noexcept : ChannelWaiter(std::move(o)), state_(std::move(o.state_)) {}
        ~Recv() {
            leave_scope();
            if (!handle_) return;
            std::lock_guard lock(state_->mutex);
            if (state_->receiver == handle_) state_->receiver = {}; // still waiting
            forget_wake_up(); // woken, not resumed: the value stays queued
        }
        bool await_ready() const noexcept { return false; }
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) {
            if (!state_) return fail(EINVAL);
            auto try_now = [&] {
                std::lock_guard lock(state_->mutex);
                return !state_->queue.empty() || state_->closed; // take it at once
            };
            return park_under_scope(h, &Recv::on_stop, try_now, [&]() noexcept {
                std::lock_guard lock(state_->mutex);
                if (!state_->queue.empty() || state_->closed) return Parked::again;
                if (state_->receiver) return fail(EBUSY), Parked::no;
                auto* here = drivers::LocalDriver::current();
                if (!here) return fail(EPERM), Parked::no;
                handle_ = h;
                poster_.emplace(*here);
                expected_.emplace(*here);
                state_->receiver = h;
                state_->receiver_poster = poster_;
                state_->receiver_woken = &woken_;
                return Parked::yes;
            });
        }
        Result<T> await_resume() {
            leave_scope();
            expected_.reset();
            if (!state_) return std::unexpected(errno_code(error_)); // moved-from channel
            detail::DeferredWakes wake_after_unlock; // a sender let in is woken after unlocking
            std::lock_guard lock(state_->mutex);
            handle_ = {};
            woken_ = false;
            if (error_) return std::unexpected(errno_code(error_));
            // Empty: closed — or another receiver (a try_recv) took the value we were woken
            // for, against the one-receiver rule: EBUSY, as for a second waiting receiver.
            if (state_->queue.empty())
                return std::unexpected(errno_code(state_->closed ? EPIPE : EBUSY));
            T v = std::move(state_->queue.front());
            state_->queue.pop_front();
            state_->let_one_in();
            return v;
        }

      private:
        // A stop request: a receiver still waiting resumes with ECANCELED, taking nothing.
        static void on_stop(void* self) noexcept {
            auto& r = *static_cast<Recv*>(self);
            std::lock_guard lock(r.state_->mutex);
            if (!r.handle_ || r.state_->receiver != r.handle_) return; // woken already
            r.state_->receiver = {};
            r.error_ = ECANCELED;
            r.woken_ = true;
            r.poster_->post(r.handle_);
        }
        std::shared_ptr<State> state_;
    };

    [[nodiscard]] Send send(T value) const { return Send(state_, std::move(value)); }
    [[nodiscard]] Recv recv() const noexcept { return Recv(state_); }

    // Without waiting, from any thread (a coroutine or not): EAGAIN when full (or senders
    // wait in line before this one), EPIPE when closed.
    Result<void> try_send(T value) const {
        if (!state_) return std::unexpected(errno_code(EINVAL));
        detail::DeferredWakes wake_after_unlock;
        std::lock_guard lock(state_->mutex);
        if (state_->closed) return std::unexpected(errno_code(EPIPE));
        if (state_->queue.size() >= state_->capacity || state_->first)
            return std::unexpected(errno_code(EAGAIN));
        state_->queue.push_back(std::move(value));
        state_->wake_receiver();
        return {};
    }
    // Without waiting: EAGAIN when empty, EPIPE when empty and closed.
    Result<T> try_recv() const {
        if (!state_) return std::unexpected(errno_code(EINVAL));
        detail::DeferredWakes wake_after_unlock;
        std::lock_guard lock(state_->mutex);
        if (state_->queue.empty()) return std::unexpected(errno_code(state_->closed ? EPIPE : EAGAIN));
        T v = std::move(state_->queue.front());
        state_->queue.pop_front();
        state_->let_one_in();
        return v;
    }

    // No more sends (EPIPE); parked senders are woken with EPIPE (not sent: their values are
    // destroyed with their awaiters); the receiver takes what is queued, then gets EPIPE.
    void close() const noexcept {
        if (!state_) return;
        detail::DeferredWakes wake_after_unlock;
        std::lock_guard lock(state_->mutex);
        state_->closed = true;
        while (state_->first) {
            auto& s = *state_->first;
            state_->unlink(s);
            s.wake();
        }
        state_->wake_receiver();
    }
    // Values queued now (a snapshot: other threads may change it at once).
    [[nodiscard]] std::size_t size() const noexcept {
        if (!state_) return 0;
        std::lock_guard lock(state_->mutex);
        return state_->queue.size();
    }
    [[nodiscard]] std::size_t capacity() const noexcept { return state_ ? state_->capacity : 0; }

  private:
    explicit Channel(std::shared_ptr<State> s) noexcept : state_(std::move(s)) {}
    std::shared_ptr<State> state_;
};

} // namespace ringbahn
