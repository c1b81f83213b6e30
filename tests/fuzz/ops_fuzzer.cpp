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

import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using drivers::LocalDriver;

namespace {

// Every buffer of an input goes through this ledger: freed into a quarantine filled with the
// poison, checked (and really freed) once the input is done.
test::BufferLedger ledger{test::OnFree::quarantine, std::byte{0x5A}};
using Buf = test::TrackedBuffer;
Buf buffer(std::size_t n) { return Buf(n, ledger); }

template <class E>
test::Probe run(LocalDriver& d, E e) {
    auto [ev, r] = co_await submit(d, std::move(e));
    (void)ev;
    (void)r;
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
            case 0: probes.emplace_back(run(*d, events::Read<Buf>{p.read.get(), buffer(1 + arg % 64u)})); break;
            case 1: probes.emplace_back(run(*d, events::Write<Buf>{p.write.get(), buffer(1 + arg % 64u)})); break;
            case 2: probes.emplace_back(run(*d, events::Recv<Buf>{sock.a.get(), buffer(1 + arg % 64u)})); break;
            case 3: probes.emplace_back(run(*d, events::Send<Buf>{sock.b.get(), buffer(1 + arg % 64u)})); break;
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
    if (ledger.verify_and_release() != 0) std::abort(); // the kernel wrote into a freed buffer
    if (ledger.allocated() != ledger.freed()) std::abort();
    if (test::fd_count() != fds_at_start) std::abort();
    return 0;
}
