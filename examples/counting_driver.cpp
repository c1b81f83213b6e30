// A custom driver: LocalDriver's ring and loop, plus a count of the ops and cancels that pass.
#include <chrono>
#include <coroutine>
#include <cstdint>
#include <cstdio>
#include <expected>
#include <memory>
#include <vector>
#include <unistd.h>
import ringbahn;
using namespace ringbahn;
using namespace std::chrono_literals;

class CountingDriver : public Submitter { // Submitter: the member `d.submit(event)`
  public:
    explicit CountingDriver(std::unique_ptr<drivers::LocalDriver> ring) : ring_(std::move(ring)) {}
    // SqeSource: SQE slots (with backpressure), withdrawal, cancel.
    bool acquire(SlotRequest& r) noexcept { return ++ops, ring_->acquire(r); }
    bool withdraw(SlotRequest& r) noexcept { return ring_->withdraw(r); }
    void cancel(Completion& c) noexcept { ++cancels, ring_->cancel(c); }
    // Executor: where coroutines run.
    void post(std::coroutine_handle<> h) noexcept { ring_->post(h); }
    bool unpost(std::coroutine_handle<> h) noexcept { return ring_->unpost(h); }
    const Liveness& liveness() const noexcept { return ring_->liveness(); }
    Result<void> run_until(const DoneSignal& s) { return ring_->run_until(s); }
    void spawn(Task<void> t) { ring_->spawn(std::move(t)); }

    std::uint64_t ops = 0, cancels = 0;

  private:
    std::unique_ptr<drivers::LocalDriver> ring_; // last member: torn down first, ops and all
};
static_assert(Drive<CountingDriver>);

Task<void> work(CountingDriver& d, int fd) {
    for (int i = 0; i < 3; ++i) co_await d.submit(events::Nop{});
    // A read of an empty pipe loses to a timer: it is cancelled, its buffer held until its CQE.
    auto r = co_await when_any(d.submit(events::Read{fd, std::vector<std::byte>(64)}),
                               d.submit(events::Timeout{1ms}));
    std::printf("winner: %s\n", r.index() == 1 ? "the timer" : "the read");
}

int main() {
    int p[2];
    if (::pipe(p) != 0) return 1;
    CountingDriver d(drivers::LocalDriver::create().value());
    block_on(d, work(d, p[0]));
    std::printf("counting_driver: %llu ops, %llu cancel\n", (unsigned long long)d.ops,
                (unsigned long long)d.cancels);
    return d.ops == 5 && d.cancels == 1 ? 0 : 1;
}
