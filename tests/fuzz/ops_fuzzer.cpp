// SPDX-License-Identifier: MIT
// libFuzzer target: the input is a program of ops, cancels and teardowns on a small
// LocalDriver over pipes and a socket pair. Invariants, checked after every input: every
// buffer is freed exactly once, none while the kernel owned it (quarantined with a pattern
// that a late kernel write breaks), and no fd is left open.
// Build: the `fuzz` preset; run: build/fuzz/tests/fuzz/ringbahn.fuzz.ops CORPUS...
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <expected>
#include <memory>
#include <optional>
#include <vector>

#include "../support.hpp"

import ringbahn;

using namespace ringbahn;
using drivers::LocalDriver;

namespace {

constexpr std::byte poison{0x5A};
long allocated = 0, freed = 0;
std::vector<std::pair<std::byte*, std::size_t>> quarantine;

class Buf {
  public:
    static constexpr bool owns_stable_bytes = true; // OwnedBuffer: heap bytes, moved by pointer
    explicit Buf(std::size_t n) : p_(new std::byte[n]), n_(n) { ++allocated; }
    Buf(Buf&& o) noexcept : p_(std::exchange(o.p_, nullptr)), n_(o.n_) {}
    Buf& operator=(Buf&& o) noexcept {
        if (this != &o) {
            drop();
            p_ = std::exchange(o.p_, nullptr);
            n_ = o.n_;
        }
        return *this;
    }
    ~Buf() { drop(); }
    std::byte* data() noexcept { return p_; }
    const std::byte* data() const noexcept { return p_; }
    std::size_t size() const noexcept { return n_; }
    std::byte* begin() noexcept { return p_; }
    std::byte* end() noexcept { return p_ + n_; }
    const std::byte* begin() const noexcept { return p_; }
    const std::byte* end() const noexcept { return p_ + n_; }

  private:
    void drop() noexcept {
        if (!p_) return;
        std::memset(p_, int(poison), n_);
        quarantine.emplace_back(std::exchange(p_, nullptr), n_);
        ++freed;
    }
    std::byte* p_;
    std::size_t n_;
};

template <class E>
test::Probe run(LocalDriver& d, E e) {
    auto [ev, r] = co_await submit(d, std::move(e));
    (void)ev;
    (void)r;
}

void check_quarantine() {
    for (auto [p, n] : quarantine) {
        for (std::size_t i = 0; i < n; ++i)
            if (p[i] != poison) std::abort(); // the kernel wrote into a freed buffer
        delete[] p;
    }
    quarantine.clear();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const int fds_at_start = test::fd_count();
    {
        test::Pipe pipes[2];
        test::SocketPair sock;
        std::vector<std::optional<test::Probe>> probes;
        auto d = LocalDriver::create({.entries = 4}).value();
        for (std::size_t i = 0; i + 1 < size; i += 2) {
            const std::uint8_t op = data[i] % 10, arg = data[i + 1];
            auto& p = pipes[arg & 1];
            switch (op) {
            case 0: probes.emplace_back(run(*d, events::Read<Buf>{p.read.get(), Buf(1 + arg % 64u)})); break;
            case 1: probes.emplace_back(run(*d, events::Write<Buf>{p.write.get(), Buf(1 + arg % 64u)})); break;
            case 2: probes.emplace_back(run(*d, events::Recv<Buf>{sock.a.get(), Buf(1 + arg % 64u)})); break;
            case 3: probes.emplace_back(run(*d, events::Send<Buf>{sock.b.get(), Buf(1 + arg % 64u)})); break;
            case 4: probes.emplace_back(run(*d, events::Timeout{std::chrono::microseconds(arg % 20)})); break;
            case 5: if (!probes.empty()) probes[arg % probes.size()].reset(); break; // cancel
            case 6: d->poll(); break;
            case 7: { char b[64] = {}; (void)!::write(p.write.get(), b, 1 + arg % 64u); break; }
            case 8: probes.emplace_back(run(*d, events::Nop{})); break;
            case 9: // teardown with everything in flight; the probes outlive the driver
                d.reset();
                d = LocalDriver::create({.entries = 4}).value();
                probes.clear();
                break;
            }
            if (probes.size() > 32) probes.erase(probes.begin());
        }
        d.reset();
        probes.clear();
    }
    check_quarantine();
    if (allocated != freed) std::abort();
    if (test::fd_count() != fds_at_start) std::abort();
    return 0;
}
