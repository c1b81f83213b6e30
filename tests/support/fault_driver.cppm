// SPDX-License-Identifier: MIT
// FaultyDriver<Inner>: a Drive adapter that injects faults, written against ringbahn's public
// Drive concept (which it also proves usable from outside the library). Seeded, so a failure
// replays. It injects:
//   * a full SQ: requests are parked instead of granted, and granted later in shuffled order
//     (backpressure, delayed and reordered completions);
//   * -EBUSY / -EAGAIN from submit and -EINTR from wait, through the inner driver's FaultHooks;
//   * CQE results of -ECANCELED and -EINTR: the prepared SQE is turned into a NOP that posts
//     that result (IORING_NOP_INJECT_RESULT), so the op never happens and nothing is lost;
//   * short counts: the SQE's length is cut, so the kernel really does less.
module;
#include <liburing.h>

#include <cerrno>
#include <coroutine>
#include <cstdint>
#include <random>
#include <span>
#include <unordered_map>
#include <utility>

export module ringbahn.test_support:fault_driver;

import ringbahn;

export namespace test {

struct FaultPlan {
    std::uint64_t seed = 1;
    double park = 0.15;    // a request waits for a later turn
    double fail = 0.03;    // the op becomes a NOP posting -ECANCELED or -EINTR
    double shorten = 0.10; // a read/write/send/recv gets a shorter length
    double busy = 0.05;    // submit answers -EBUSY / -EAGAIN
    double intr = 0.05;    // a wait answers -EINTR
};

struct FaultCounts {
    long parked = 0, failed = 0, shortened = 0, busy = 0, intr = 0;
    long total() const { return parked + failed + shortened + busy + intr; }
};

template <class Inner>
class FaultyDriver : public ringbahn::Submitter {
  public:
    // `self` is the pointer the inner driver's hooks read (see hooks()): set while we live.
    FaultyDriver(Inner& inner, FaultPlan plan, FaultyDriver*& self)
        : inner_(&inner), plan_(plan), self_(&self), rng_(plan.seed) {
        self = this;
    }
    FaultyDriver(const FaultyDriver&) = delete;
    ~FaultyDriver() {
        liveness_.end();
        *self_ = nullptr; // the inner driver may outlive us: its hooks then inject nothing
        tasks_.destroy_all(); // their awaiters withdraw or cancel through us
        while (!parked_.empty()) {
            auto& r = *parked_.front();
            parked_.remove(r);
            r.grant({}); // never to be granted: we are going away
        }
        // Requests still waiting in the inner driver wait through a proxy of ours: take them
        // back, and tell their owners the same.
        for (auto [real, proxy] : proxies_) {
            if (inner_->withdraw(*proxy)) real->grant({});
            delete proxy;
        }
        proxies_.clear();
    }

    // The hooks to hand the inner driver at creation (LocalOptions::faults).
    static ringbahn::drivers::FaultHooks hooks(FaultyDriver*& self) {
        return {&before_submit, &before_wait, &self};
    }

    // --- Drive ---
    bool acquire(ringbahn::SlotRequest& r) noexcept {
        if (chance(plan_.park)) {
            ++counts.parked;
            parked_.push_back(r);
            return false;
        }
        return forward(r);
    }
    bool withdraw(ringbahn::SlotRequest& r) noexcept {
        if (parked_.remove(r)) return true;
        auto it = proxies_.find(&r);
        if (it == proxies_.end()) return false; // granted already
        if (!inner_->withdraw(*it->second)) return false;
        delete it->second;
        proxies_.erase(it);
        return true;
    }
    void cancel(ringbahn::Completion& c) noexcept { inner_->cancel(c); }
    void post(std::coroutine_handle<> h) noexcept { inner_->post(h); }
    bool unpost(std::coroutine_handle<> h) noexcept { return inner_->unpost(h); }
    const ringbahn::Liveness& liveness() const noexcept { return liveness_; }
    void run_until(const ringbahn::DoneSignal& done) {
        while (!done.is_set()) turn();
    }
    void spawn(ringbahn::Task<void> t) { tasks_.spawn(std::move(t)); }

    // One loop turn: release some parked requests (shuffled), then one inner turn, waiting for
    // a CQE only if `wait` and nothing is parked.
    void turn(bool wait = true) {
        for (int n = 0; n < 8 && !parked_.empty(); ++n) {
            auto& r = *parked_.front();
            parked_.remove(r);
            if (chance(0.5)) parked_.push_back(r); // rotate: later ones overtake
            else forward(r);
        }
        inner_->run_once(wait && parked_.empty());
    }
    [[nodiscard]] bool idle() const { return parked_.empty() && inner_->in_flight() == 0; }

    FaultCounts counts;

  private:
    // Stands in for the caller's request with the inner driver, to see and alter the SQEs.
    struct Proxy : ringbahn::SlotRequest {
        Proxy(ringbahn::SlotRequest& r, FaultyDriver& d)
            : SlotRequest(r.sqes_needed(), &Proxy::on_grant), real(&r), driver(&d) {}
        static void on_grant(ringbahn::SlotRequest& self, std::span<::io_uring_sqe> sqes) noexcept {
            auto* p = static_cast<Proxy*>(&self);
            FaultyDriver& d = *p->driver;
            p->real->grant(sqes); // the event prepares; user_data is set
            if (!sqes.empty()) d.mutate(sqes);
            d.proxies_.erase(p->real);
            delete p;
        }
        ringbahn::SlotRequest* real;
        FaultyDriver* driver;
    };

    bool forward(ringbahn::SlotRequest& r) noexcept {
        auto* p = new Proxy(r, *this);
        proxies_.emplace(&r, p);
        return inner_->acquire(*p); // granted now: the proxy already erased and deleted itself
    }

    void mutate(std::span<::io_uring_sqe> sqes) noexcept {
        for (auto& sqe : sqes) {
            // Not close: on Linux it releases the fd whatever it reports, so a close that
            // "failed" without running would be a fault the kernel never produces.
            if (sqe.opcode != IORING_OP_CLOSE && chance(plan_.fail)) {
                ++counts.failed;
                const std::uint64_t ud = sqe.user_data;
                const int res = chance(0.5) ? -ECANCELED : -EINTR;
                sqe = ::io_uring_sqe{};
                sqe.opcode = IORING_OP_NOP;
                sqe.rw_flags = 1u << 0; // IORING_NOP_INJECT_RESULT (6.10): res = (int)len
                sqe.len = static_cast<std::uint32_t>(res);
                sqe.user_data = ud;
                continue;
            }
            const bool sized = sqe.opcode == IORING_OP_READ || sqe.opcode == IORING_OP_WRITE ||
                               sqe.opcode == IORING_OP_SEND || sqe.opcode == IORING_OP_RECV ||
                               sqe.opcode == IORING_OP_READ_FIXED ||
                               sqe.opcode == IORING_OP_WRITE_FIXED;
            if (sized && sqe.len > 1 && chance(plan_.shorten)) {
                ++counts.shortened;
                sqe.len = 1 + static_cast<std::uint32_t>(rng_() % (sqe.len - 1));
            }
        }
    }

    static int before_submit(void* ctx) noexcept {
        auto* d = *static_cast<FaultyDriver**>(ctx);
        if (!d || !d->chance(d->plan_.busy)) return 0;
        ++d->counts.busy;
        return d->chance(0.5) ? -EBUSY : -EAGAIN;
    }
    static int before_wait(void* ctx) noexcept {
        auto* d = *static_cast<FaultyDriver**>(ctx);
        if (!d || !d->chance(d->plan_.intr)) return 0;
        ++d->counts.intr;
        return -EINTR;
    }

    bool chance(double p) noexcept { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
    ringbahn::Liveness liveness_;
    Inner* inner_;
    FaultPlan plan_;
    FaultyDriver** self_;
    std::mt19937_64 rng_;
    ringbahn::SlotWaitList parked_;
    std::unordered_map<ringbahn::SlotRequest*, Proxy*> proxies_;
    ringbahn::TaskSet tasks_;
};

} // namespace test
