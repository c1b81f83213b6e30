// SPDX-License-Identifier: MIT
// Cancellation torture: seeded random reads, writes, accepts, timeouts, nops and Ring ops on
// pipes and sockets, with awaiters, Rings and whole drivers destroyed at random points, under
// injected faults. Every buffer is tracked: allocated == freed at the end, and none is freed
// while the kernel owns it — a freed buffer is filled with a pattern and kept in quarantine
// until its driver is idle or gone; a kernel write after the free breaks the pattern.
// RINGBAHN_TORTURE_OPS sets the op count (CI's asan run: 1,000,000); RINGBAHN_SEED replays.
#include <catch2/catch_test_macros.hpp>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <random>
#include <vector>

#include "fault_driver.hpp"
#include "support.hpp"

import ringbahn;

using namespace ringbahn;
using drivers::LocalDriver;

namespace {

using Faulty = test::FaultyDriver<LocalDriver>;
constexpr std::byte poison{0xA5};

struct Ledger {
    long allocated = 0, freed = 0, corrupted = 0;
    std::vector<std::pair<std::byte*, std::size_t>> quarantine;
    // The kernel is done with everything freed so far: check the pattern, then really free.
    void verify_and_release() {
        for (auto [p, n] : quarantine) {
            for (std::size_t i = 0; i < n; ++i)
                if (p[i] != poison) {
                    ++corrupted;
                    break;
                }
            delete[] p;
        }
        quarantine.clear();
    }
};

// An OwnedBuffer whose storage goes to the ledger's quarantine instead of the heap.
class QuarantinedBuffer {
  public:
    static constexpr bool owns_stable_bytes = true; // OwnedBuffer: heap bytes, moved by pointer
    QuarantinedBuffer(std::size_t n, Ledger& l) : data_(new std::byte[n]), size_(n), ledger_(&l) {
        ++l.allocated;
    }
    QuarantinedBuffer(QuarantinedBuffer&& o) noexcept
        : data_(std::exchange(o.data_, nullptr)), size_(o.size_), ledger_(o.ledger_) {}
    QuarantinedBuffer& operator=(QuarantinedBuffer&& o) noexcept {
        if (this != &o) {
            release();
            data_ = std::exchange(o.data_, nullptr);
            size_ = o.size_;
            ledger_ = o.ledger_;
        }
        return *this;
    }
    ~QuarantinedBuffer() { release(); }
    std::byte* data() noexcept { return data_; }
    const std::byte* data() const noexcept { return data_; }
    std::size_t size() const noexcept { return size_; }
    std::byte* begin() noexcept { return data_; }
    std::byte* end() noexcept { return data_ + size_; }
    const std::byte* begin() const noexcept { return data_; }
    const std::byte* end() const noexcept { return data_ + size_; }

  private:
    void release() noexcept {
        if (!data_) return;
        std::memset(data_, int(poison), size_);
        ledger_->quarantine.emplace_back(std::exchange(data_, nullptr), size_);
        ++ledger_->freed;
    }
    std::byte* data_;
    std::size_t size_;
    Ledger* ledger_;
};

template <class D, class E>
test::Probe one(D& d, E event, long& done) {
    auto [e, r] = co_await submit(d, std::move(event));
    if constexpr (std::is_same_v<E, events::Accept>)
        if (r) ::close(int(*r)); // ours now: an accepted connection
    ++done;
}

template <class D>
test::Probe ring_ops(D& d, int read_fd, int write_fd, policies::Pooled policy, long& done) {
    // A Ring that lives in this frame: destroying the probe destroys it mid-op.
    Ring in(d, io::Stream(io::OwnedFd(::dup(read_fd))), policy);
    Ring out(d, io::Stream(io::OwnedFd(::dup(write_fd))), policy);
    std::byte chunk[64]{};
    for (int i = 0; i < 4; ++i) {
        (void)co_await out.write(chunk);
        (void)co_await in.read(chunk);
        ++done;
    }
}

struct Epoch {
    std::mt19937_64& rng;
    Ledger& ledger;
    long& ops;
    long done = 0;

    template <class D>
    void run(D& d, Faulty* faulty, LocalDriver& inner, int steps, bool teardown_in_flight) {
        std::vector<test::Pipe> pipes(6);
        std::vector<test::SocketPair> socks(4);
        test::Listener listener;
        std::vector<test::Fd> clients;
        auto pool = BufferPool::create(8, 256, WhenEmpty::wait).value();
        std::vector<std::optional<test::Probe>> probes;
        auto pick = [&](std::size_t n) { return std::size_t(rng() % n); };
        auto buf = [&] { return QuarantinedBuffer(1 + pick(300), ledger); };
        for (int s = 0; s < steps; ++s) {
            const auto action = pick(100);
            if (probes.size() < 48 && action < 45) {
                ++ops;
                auto& p = pipes[pick(pipes.size())];
                auto& k = socks[pick(socks.size())];
                switch (pick(8)) {
                case 0: probes.emplace_back(one(d, events::Read<QuarantinedBuffer>{p.read.get(), buf()}, done)); break;
                case 1: probes.emplace_back(one(d, events::Write<QuarantinedBuffer>{p.write.get(), buf()}, done)); break;
                case 2: probes.emplace_back(one(d, events::Recv<QuarantinedBuffer>{k.a.get(), buf()}, done)); break;
                case 3: probes.emplace_back(one(d, events::Send<QuarantinedBuffer>{k.b.get(), buf()}, done)); break;
                case 4: probes.emplace_back(one(d, events::Timeout{std::chrono::microseconds(pick(50))}, done)); break;
                case 5: probes.emplace_back(one(d, events::Accept{listener.fd.get()}, done)); break;
                case 6: probes.emplace_back(one(d, events::Nop{}, done)); break;
                case 7: probes.emplace_back(ring_ops(d, p.read.get(), p.write.get(), policies::Pooled{pool}, done)); break;
                }
            } else if (action < 65 && !probes.empty()) {
                probes[pick(probes.size())].reset(); // destroyed wherever it is
            } else if (action < 85) {
                if (faulty) faulty->turn(false);
                else inner.run_once(false);
            } else if (action < 92) {
                auto& p = pipes[pick(pipes.size())];
                char junk[128] = {};
                if (pick(2)) (void)!::write(p.write.get(), junk, 1 + pick(sizeof junk));
                else {
                    auto& k = socks[pick(socks.size())];
                    (void)!::send(k.a.get(), junk, 1 + pick(sizeof junk), MSG_DONTWAIT | MSG_NOSIGNAL);
                }
            } else if (action < 95 && clients.size() < 16) {
                clients.push_back(listener.connect_client());
            } else {
                std::erase_if(probes, [](auto& p) { return !p || p->handle.done(); });
            }
        }
        if (!teardown_in_flight) {
            probes.clear(); // every awaiter goes; their cancels must all come back
            while (!(faulty ? faulty->idle() : inner.in_flight() == 0)) {
                if (faulty) faulty->turn();
                else inner.run_once(true);
            }
        }
        // (with teardown_in_flight the caller destroys the driver with all of it in flight;
        //  the probes outlive it and are destroyed after — orphaned awaiters)
        orphans = std::move(probes);
    }
    std::vector<std::optional<test::Probe>> orphans;
};

} // namespace

TEST_CASE("cancellation torture: random ops and destructions, every buffer freed once, never "
          "early",
          "[torture]") {
    std::uint64_t seed = std::random_device{}();
    if (const char* s = std::getenv("RINGBAHN_SEED")) seed = std::strtoull(s, nullptr, 10);
    long budget = 100'000;
    if (const char* s = std::getenv("RINGBAHN_TORTURE_OPS")) budget = std::atol(s);
    INFO("seed " << seed << " — rerun with RINGBAHN_SEED=" << seed);
    std::mt19937_64 rng(seed);
    Ledger ledger;
    long ops = 0, epochs = 0, completed = 0;
    test::FaultCounts faults;
    const int fds_before = test::fd_count();
    while (ops < budget) {
        Epoch e{rng, ledger, ops};
        const bool with_faults = rng() % 2;
        const bool teardown = rng() % 3 == 0;
        {
            Faulty* self = nullptr;
            auto inner = LocalDriver::create({.entries = std::uint32_t(4 << (rng() % 5)),
                                              .faults = Faulty::hooks(self)})
                             .value();
            if (with_faults) {
                Faulty d(*inner, {.seed = rng()}, self);
                e.run(d, &d, *inner, 2000, teardown);
                faults.parked += d.counts.parked, faults.failed += d.counts.failed;
                faults.shortened += d.counts.shortened, faults.busy += d.counts.busy;
                faults.intr += d.counts.intr;
            } else {
                e.run(*inner, nullptr, *inner, 2000, teardown);
            }
        } // the driver is gone: everything it had in flight was cancelled and reaped
        e.orphans.clear();
        ledger.verify_and_release();
        REQUIRE(ledger.corrupted == 0);
        completed += e.done;
        ++epochs;
    }
    CHECK(ledger.allocated == ledger.freed);
    CHECK(ledger.corrupted == 0);
    CHECK(test::fd_count() == fds_before);
    std::printf("torture: seed %llu, %ld ops in %ld epochs (%ld completed, the rest cancelled), "
                "faults injected: %ld parked, %ld failed, %ld short, %ld busy, %ld intr\n",
                (unsigned long long)seed, ops, epochs, completed, faults.parked, faults.failed,
                faults.shortened, faults.busy, faults.intr);
}
