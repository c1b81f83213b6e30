// SPDX-License-Identifier: MIT
// Cancellation torture: seeded random reads, writes, accepts, timeouts, nops and Ring ops on
// pipes and sockets, with awaiters, Rings and whole drivers destroyed at random points, under
// injected faults. Every buffer is tracked: allocated == freed at the end, and none is freed
// while the kernel owns it — a freed buffer is filled with a pattern and kept in quarantine
// until its driver is idle or gone; a kernel write after the free breaks the pattern.
// Then one scenario per thing an audit found broken — links cut at every point, when_any over
// recvs / accepts / Ring reads / provided-buffer reads racing short timers, Ring read deadlines,
// destroyed Ring reads — which count bytes, fds and provided buffers as well: every byte a peer
// sends is received by the user (checked in order against the seeded stream), taken by an
// awaiter destroyed mid-op (whose buffer goes with it, by contract), or still in the fd at the
// end; every fd comes back; every provided buffer is back in its ring.
// RINGBAHN_TORTURE_OPS sets the op count (CI's asan run: 1,000,000; each byte-counting scenario
// runs a twentieth of it); RINGBAHN_SEED replays (every scenario derives its RNG from it), e.g.
//   RINGBAHN_SEED=42 ringbahn.test.stress.torture "torture: when_any over a recv*"
#include <catch2/catch_test_macros.hpp>

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <coroutine>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using drivers::LocalDriver;
using drivers::LocalOptions;

namespace {

using Faulty = test::FaultyDriver<LocalDriver>;
constexpr std::byte poison{0xA5};

// One seed per process (RINGBAHN_SEED, or random), so every scenario of a run replays from the
// one number it prints.
std::uint64_t torture_seed() {
    static const std::uint64_t seed = [] {
        if (const char* s = std::getenv("RINGBAHN_SEED"))
            return std::uint64_t(std::strtoull(s, nullptr, 10));
        return std::uint64_t(std::random_device{}());
    }();
    return seed;
}
long torture_budget() {
    if (const char* s = std::getenv("RINGBAHN_TORTURE_OPS")) return std::atol(s);
    return 100'000;
}

template <class D, class E>
test::Probe one(D& d, E event, long& done) {
    (void)co_await submit(d, std::move(event)); // an accepted connection closes itself
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
    test::BufferLedger& ledger;
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
        auto buf = [&] { return test::TrackedBuffer(1 + pick(300), ledger); };
        for (int s = 0; s < steps; ++s) {
            const auto action = pick(100);
            if (probes.size() < 48 && action < 45) {
                ++ops;
                auto& p = pipes[pick(pipes.size())];
                auto& k = socks[pick(socks.size())];
                switch (pick(8)) {
                case 0: probes.emplace_back(one(d, events::Read<test::TrackedBuffer>{p.read.get(), buf()}, done)); break;
                case 1: probes.emplace_back(one(d, events::Write<test::TrackedBuffer>{p.write.get(), buf()}, done)); break;
                case 2: probes.emplace_back(one(d, events::Recv<test::TrackedBuffer>{k.a.get(), buf()}, done)); break;
                case 3: probes.emplace_back(one(d, events::Send<test::TrackedBuffer>{k.b.get(), buf()}, done)); break;
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

// The byte-, fd- and buffer-counting scenarios. Each runs epochs on a fresh LocalDriver; a step
// starts one probe coroutine, steps the driver 0..5 turns while the peer acts, then destroys the
// probe or feeds it until it finishes, and lets every op settle (in_flight() == 0) before the
// next step (the Ring scenario sometimes does not: the next read then meets a destroyed read's
// op still in the kernel).

// A hang is a finding too: say where, and how to replay it, instead of waiting for ctest.
struct Where {
    const char* scenario = "";
    std::uint64_t seed = 0;
    long epoch = 0, step = 0;
};
Where where;
void on_watchdog(int) {
    char msg[256];
    const int n =
        std::snprintf(msg, sizeof msg,
                      "torture: stuck in \"%s\", epoch %ld step %ld: rerun with "
                      "RINGBAHN_SEED=%llu\n",
                      where.scenario, where.epoch, where.step, (unsigned long long)where.seed);
    (void)!::write(2, msg, std::size_t(n));
    std::abort();
}
struct Watchdog {
    Watchdog(const char* scenario, std::uint64_t seed) {
        where = {scenario, seed, 0, 0};
        std::signal(SIGALRM, on_watchdog);
    }
    void pet(long epoch, long step) {
        where.epoch = epoch;
        where.step = step;
        ::alarm(60);
    }
    ~Watchdog() { ::alarm(0); }
};

// What went wrong, with the first occurrence spelled out for the report.
struct Findings {
    long count = 0;
    std::string first;
    void add(const std::string& what) {
        if (count++ == 0)
            first = std::string(where.scenario) + ", epoch " + std::to_string(where.epoch) +
                    " step " + std::to_string(where.step) + ": " + what;
    }
};

// Seeded bytes from the test (the peer) to the library (the reader) through one pipe or socket.
// Every byte sent ends up in exactly one of: `received` (the user got it; checked in order
// against the seeded stream), `discarded` (it left the fd in an op whose awaiter was destroyed:
// its buffer went with it — by contract nobody sees those bytes again), `drained` (still in the
// fd at the end; checked in order too). Single reader: a new op starts only once the last one
// settled, so the fd's FIONREAD tells exactly how far the stream has been consumed.
struct Flow {
    int fd;   // the library reads here
    int peer; // the test writes here (non-blocking)
    std::mt19937_64 gen;
    std::vector<std::byte> data;
    std::size_t sent = 0, cursor = 0, received = 0, discarded = 0, drained = 0;
    long mismatches = 0;

    Flow(int fd, int peer, std::uint64_t seed) : fd(fd), peer(peer), gen(seed) {
        ::fcntl(peer, F_SETFL, ::fcntl(peer, F_GETFL) | O_NONBLOCK); // its own file description
    }
    const std::byte* at(std::size_t pos, std::size_t n) {
        while (data.size() < pos + n) data.push_back(std::byte(gen()));
        return data.data() + pos;
    }
    void send(std::size_t n) {
        const ssize_t r = ::write(peer, at(sent, n), n);
        if (r > 0) sent += std::size_t(r);
    }
    // The user got these bytes: they must be the next ones of the stream.
    void got(const std::byte* p, std::size_t n) {
        if (cursor + n > sent || (n && std::memcmp(p, at(cursor, n), n) != 0)) ++mismatches;
        cursor += n;
        received += n;
    }
    [[nodiscard]] std::size_t unread() const {
        int n = 0;
        ::ioctl(fd, FIONREAD, &n);
        return std::size_t(n);
    }
    // Every op on fd has settled: what left the fd beyond the cursor went with a destroyed
    // awaiter (or was lost). Returns how much.
    std::size_t settle() {
        const std::size_t consumed = sent - unread();
        if (consumed < cursor) {
            ++mismatches;
            return 0;
        }
        const std::size_t lost = consumed - cursor;
        discarded += lost;
        cursor = consumed;
        return lost;
    }
    // The end: read what is left in the fd, checking it too.
    void drain() {
        std::vector<std::byte> rest(unread());
        std::size_t have = 0;
        while (have < rest.size()) {
            const ssize_t r = ::read(fd, rest.data() + have, rest.size() - have);
            if (r <= 0) break;
            have += std::size_t(r);
        }
        if (cursor + have > sent ||
            (have && std::memcmp(rest.data(), at(cursor, have), have) != 0))
            ++mismatches;
        cursor += have;
        drained += have;
    }
    [[nodiscard]] bool balanced() const {
        return mismatches == 0 && received + discarded + drained == sent && cursor == sent;
    }
};

// Seeded bytes from the library (Write events) to the test, which drains the pipe before each
// step: a write's payload continues the stream where the drained bytes end, so the pipe holds a
// prefix of the stream, whoever's write put it there.
struct Sink {
    test::Pipe pipe;
    std::mt19937_64 gen;
    std::vector<std::byte> data;
    std::size_t drained = 0;
    long mismatches = 0;

    explicit Sink(std::uint64_t seed) : gen(seed) {}
    const std::byte* at(std::size_t pos, std::size_t n) {
        while (data.size() < pos + n) data.push_back(std::byte(gen()));
        return data.data() + pos;
    }
    test::TrackedBuffer payload(std::size_t n, test::BufferLedger& ledger) {
        test::TrackedBuffer b(n, ledger);
        std::memcpy(b.data(), at(drained, n), n);
        return b;
    }
    std::size_t drain() {
        int n = 0;
        ::ioctl(pipe.read.get(), FIONREAD, &n);
        std::vector<std::byte> got(static_cast<std::size_t>(n));
        std::size_t have = 0;
        while (have < got.size()) {
            const ssize_t r = ::read(pipe.read.get(), got.data() + have, got.size() - have);
            if (r <= 0) break;
            have += std::size_t(r);
        }
        if (have && std::memcmp(got.data(), at(drained, have), have) != 0) ++mismatches;
        drained += have;
        return have;
    }
};

// Counters a scenario prints at the end: what it covered.
struct Tally {
    long steps = 0, destroyed = 0, finished = 0, epochs = 0;
    long winners[3] = {};
    long loser_bytes = 0;       // bytes a when_any loser received anyway, handed to the user
    long lost_to_destroyed = 0; // bytes that left an fd in an op whose awaiter was destroyed
    long timed_out = 0, cancelled = 0, no_buffers = 0;
    long accepted = 0, library_closed = 0, backlog = 0;
};

template <class B>
void take(Flow& f, const B& buf, const Result<std::uint32_t>& n) {
    if (n && *n > 0) f.got(buf.data(), *n);
}
void take(Flow& f, const std::optional<ProvidedLease>& lease, const Result<std::uint32_t>& n,
          Findings& bad) {
    if (!n || *n == 0) return;
    if (!lease || lease->size() != *n) {
        bad.add("a provided-buffer read returned " + std::to_string(*n) + " bytes but no lease");
        f.cursor += *n; // keep the stream aligned; the bytes are lost (the flow will not balance)
        return;
    }
    f.got(lease->data(), *n);
}

template <class E>
Task<OutputOf<E>> as_task(Submission<E, LocalDriver> op) {
    co_return co_await std::move(op);
}

// The probe: awaits one op, directly or through a Task, and hands what it gave to `collect`
// (which takes the bytes, closes the fds). Destroying the probe destroys the awaiter (and the
// Task) — that is the cancellation tested.
template <class E, class F>
test::Probe await_one(Submission<E, LocalDriver> op, F collect, bool through_task = false) {
    if (through_task) {
        auto value = co_await as_task(std::move(op));
        collect(value);
    } else {
        auto value = co_await std::move(op);
        collect(value);
    }
}
template <class F, class... As>
test::Probe await_any(F collect, As... as) {
    auto r = co_await when_any(std::move(as)...);
    collect(r);
}

// One step of a probe: 0..5 loop turns with the peer acting, then destroyed (a third of the
// time if `may_destroy`, or when `feed` cannot make it finish) or fed until it finishes; then,
// if `settle`, every op's last CQE is reaped. Returns whether the probe was destroyed before
// finishing.
template <class Peer, class Feed>
bool play(LocalDriver& d, std::mt19937_64& rng, test::Probe probe, Peer peer, Feed feed,
          Findings& bad, bool settle = true, bool may_destroy = true) {
    const int turns = int(rng() % 6);
    for (int i = 0; i < turns && !probe.handle.done(); ++i) {
        peer();
        d.poll();
    }
    if (rng() % 2) peer(); // maybe completed in the kernel, not reaped yet
    bool destroyed = false;
    if (!probe.handle.done() && rng() % 3 == 0 && may_destroy) destroyed = true;
    long idle = 0;
    while (!destroyed && !probe.handle.done()) {
        if (!feed()) {
            destroyed = true;
            break;
        }
        const bool busy = d.in_flight() > 0;
        if (d.run_once(true).value_or(0) == 0 && !busy && ++idle > 10'000) {
            bad.add("a probe neither finished nor had anything in flight");
            destroyed = true;
        }
    }
    probe.reset();
    if (settle)
        while (d.in_flight() > 0) d.run_once(true);
    return destroyed;
}

LocalOptions epoch_options(std::mt19937_64& rng) {
    return {.entries = std::uint32_t(4 << (rng() % 5))};
}
std::chrono::microseconds short_deadline(std::mt19937_64& rng) {
    return std::chrono::microseconds(rng() % 201);
}
int port_of(int fd, bool peer) {
    sockaddr_in a{};
    socklen_t len = sizeof a;
    if ((peer ? ::getpeername : ::getsockname)(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
        return -1;
    return ntohs(a.sin_port);
}

// Scenario 1: links cut at every point of the chain.
void links_epoch(std::mt19937_64& rng, test::BufferLedger& ledger, Tally& t, Findings& bad, long steps,
                 Watchdog& dog) {
    auto d = LocalDriver::create(epoch_options(rng)).value();
    test::SocketPair sock;
    test::Pipe pipe;
    Flow s(sock.a.get(), sock.b.get(), rng()), p(pipe.read.get(), pipe.write.get(), rng());
    Sink sink(rng());
    auto pick = [&](std::size_t n) { return std::size_t(rng() % n); };
    auto buf = [&] { return test::TrackedBuffer(1 + pick(300), ledger); };
    using Q = test::TrackedBuffer;
    for (long i = 0; i < steps; ++i) {
        dog.pet(t.epochs, i);
        sink.drain();
        const std::size_t written_before = sink.drained;
        Result<std::uint32_t> wrote =
            std::unexpected(std::make_error_code(std::errc::operation_canceled));
        bool reads_s = false, reads_p = false, writes = false;
        std::optional<test::Probe> probe;
        const bool in_task = pick(2);
        switch (pick(5)) {
        case 0:
            reads_s = true;
            probe = await_one(
                submit(*d, events::link(events::Nop{}, events::Recv<Q>{s.fd, buf()})),
                [&](auto& c) {
                    take(s, std::get<1>(c.event.events).buf, c.event.template result<1>());
                },
                in_task);
            break;
        case 1:
            reads_p = writes = true;
            probe = await_one(
                submit(*d, events::link(events::Read<Q>{p.fd, buf()},
                                        events::Write<Q>{sink.pipe.write.get(),
                                                         sink.payload(1 + pick(300), ledger)})),
                [&](auto& c) {
                    take(p, std::get<0>(c.event.events).buf, c.event.template result<0>());
                    wrote = c.event.template result<1>();
                },
                in_task);
            break;
        case 2:
            reads_s = writes = true;
            probe = await_one(
                submit(*d, events::link(events::Write<Q>{sink.pipe.write.get(),
                                                         sink.payload(1 + pick(300), ledger)},
                                        events::Recv<Q>{s.fd, buf()}, events::Nop{})),
                [&](auto& c) {
                    wrote = c.event.template result<0>();
                    take(s, std::get<1>(c.event.events).buf, c.event.template result<1>());
                },
                in_task);
            break;
        case 3:
            reads_s = reads_p = true;
            probe = await_one(
                submit(*d, events::link(events::Recv<Q>{s.fd, buf()}, events::Nop{},
                                        events::Read<Q>{p.fd, buf()})),
                [&](auto& c) {
                    take(s, std::get<0>(c.event.events).buf, c.event.template result<0>());
                    take(p, std::get<2>(c.event.events).buf, c.event.template result<2>());
                },
                in_task);
            break;
        case 4:
            reads_p = true;
            probe = await_one(
                submit(*d,
                       events::link(events::Nop{}, events::Nop{}, events::Read<Q>{p.fd, buf()})),
                [&](auto& c) {
                    take(p, std::get<2>(c.event.events).buf, c.event.template result<2>());
                },
                in_task);
            break;
        }
        const bool destroyed = play(
            *d, rng, std::move(*probe),
            [&] {
                if (pick(4) == 0) (pick(2) ? s : p).send(1 + pick(128));
            },
            [&] {
                if (reads_s && s.unread() == 0) s.send(1 + pick(64));
                if (reads_p && p.unread() == 0) p.send(1 + pick(64));
                return true;
            },
            bad);
        ++t.steps;
        const std::size_t lost = (reads_s ? s.settle() : 0) + (reads_p ? p.settle() : 0);
        sink.drain();
        const std::size_t written = sink.drained - written_before;
        if (destroyed) {
            ++t.destroyed;
            t.lost_to_destroyed += long(lost);
        } else {
            ++t.finished;
            if (lost)
                bad.add(std::to_string(lost) +
                        " bytes left the fd in a link that finished, unreported");
            if (writes && written != (wrote ? *wrote : 0u))
                bad.add("a linked write reported " +
                        (wrote ? std::to_string(*wrote) : wrote.error().message()) + " but " +
                        std::to_string(written) + " bytes arrived");
        }
        if (d->in_flight() != 0) bad.add("ops still in flight after settling");
    }
    s.drain();
    p.drain();
    if (!s.balanced() || !p.balanced() || sink.mismatches)
        bad.add("bytes do not balance: socket sent " + std::to_string(s.sent) + " received " +
                std::to_string(s.received) + " discarded " + std::to_string(s.discarded) +
                " left " + std::to_string(s.drained) + " mismatches " +
                std::to_string(s.mismatches) + "; pipe sent " + std::to_string(p.sent) +
                " received " + std::to_string(p.received) + " discarded " +
                std::to_string(p.discarded) + " left " + std::to_string(p.drained) +
                " mismatches " + std::to_string(p.mismatches) + "; sink mismatches " +
                std::to_string(sink.mismatches));
}

// Scenario 2: when_any over recvs and a short timer while the peer streams.
void recv_race_epoch(std::mt19937_64& rng, test::BufferLedger& ledger, Tally& t, Findings& bad, long steps,
                     Watchdog& dog) {
    auto d = LocalDriver::create(epoch_options(rng)).value();
    test::SocketPair one_sock, two_sock;
    Flow s(one_sock.a.get(), one_sock.b.get(), rng()), u(two_sock.a.get(), two_sock.b.get(), rng());
    auto pick = [&](std::size_t n) { return std::size_t(rng() % n); };
    auto buf = [&] { return test::TrackedBuffer(1 + pick(300), ledger); };
    using Q = test::TrackedBuffer;
    // A recv branch: its bytes are the user's whether it won or lost.
    auto branch = [&](Flow& f, auto& c, std::size_t index, std::size_t winner) {
        take(f, c.event.buf, c.result);
        if (index != winner && c.result && *c.result > 0) t.loser_bytes += long(*c.result);
    };
    for (long i = 0; i < steps; ++i) {
        dog.pet(t.epochs, i);
        bool reads_u = false;
        std::optional<test::Probe> probe;
        switch (pick(4)) {
        case 0:
            probe = await_any(
                [&](auto& r) {
                    ++t.winners[r.index()];
                    branch(s, r.template get<0>(), 0, r.index());
                },
                submit(*d, events::Recv<Q>{s.fd, buf()}),
                submit(*d, events::Timeout(short_deadline(rng))));
            break;
        case 1:
            reads_u = true;
            probe = await_any(
                [&](auto& r) {
                    ++t.winners[r.index()];
                    branch(s, r.template get<1>(), 1, r.index());
                    branch(u, r.template get<2>(), 2, r.index());
                },
                submit(*d, events::Timeout(short_deadline(rng))),
                submit(*d, events::Recv<Q>{s.fd, buf()}), submit(*d, events::Recv<Q>{u.fd, buf()}));
            break;
        case 2:
            probe = await_any(
                [&](auto& r) {
                    ++t.winners[r.index()];
                    auto& c = r.template get<0>();
                    take(s, std::get<1>(c.event.events).buf, c.event.template result<1>());
                    if (r.index() != 0 && c.event.template result<1>())
                        t.loser_bytes += long(*c.event.template result<1>());
                },
                submit(*d, events::link(events::Nop{}, events::Recv<Q>{s.fd, buf()})),
                submit(*d, events::Timeout(short_deadline(rng))));
            break;
        case 3:
            probe = await_any(
                [&](auto& r) {
                    ++t.winners[r.index()];
                    auto& c = r.template get<0>();
                    take(s, c.event.event.buf, c.result);
                    if (!c.result && c.result.error() == std::errc::timed_out) ++t.timed_out;
                    if (r.index() != 0 && c.result) t.loser_bytes += long(*c.result);
                },
                submit(*d, events::with_timeout(events::Recv<Q>{s.fd, buf()}, short_deadline(rng))),
                submit(*d, events::Timeout(short_deadline(rng))));
            break;
        }
        const bool destroyed = play(
            *d, rng, std::move(*probe),
            [&] {
                if (pick(3) == 0) (pick(3) ? s : u).send(1 + pick(200));
            },
            [&] { return true; }, bad); // the timer ends it
        ++t.steps;
        const std::size_t lost = s.settle() + (reads_u ? u.settle() : 0);
        if (destroyed) {
            ++t.destroyed;
            t.lost_to_destroyed += long(lost);
        } else {
            ++t.finished;
            if (lost)
                bad.add(std::to_string(lost) + " bytes left the socket in a when_any that resumed, "
                                               "and were not in any branch");
        }
        if (d->in_flight() != 0) bad.add("ops still in flight after settling");
    }
    s.drain();
    u.drain();
    if (!s.balanced() || !u.balanced())
        bad.add("bytes do not balance: sent " + std::to_string(s.sent + u.sent) + " received " +
                std::to_string(s.received + u.received) + " discarded " +
                std::to_string(s.discarded + u.discarded) + " left " +
                std::to_string(s.drained + u.drained) + " mismatches " +
                std::to_string(s.mismatches + u.mismatches));
}

// Scenario 3: when_any over accepts and a timer while clients connect.
void accept_race_epoch(std::mt19937_64& rng, Tally& t, Findings& bad, long steps, Watchdog& dog) {
    auto d = LocalDriver::create(epoch_options(rng)).value();
    test::Listener listener;
    const int lfd = listener.fd.get();
    struct Client {
        test::Fd fd;
        int port;
    };
    std::vector<Client> clients;
    std::vector<int> accepted;              // peer ports of the connections the user got
    constexpr std::size_t max_clients = 32; // below the backlog: a connect never waits
    long fds_besides_clients = test::fd_count();
    auto pick = [&](std::size_t n) { return std::size_t(rng() % n); };
    auto connect = [&] {
        if (clients.size() >= max_clients) return false;
        test::Fd c = listener.connect_client();
        const int port = port_of(c.get(), false);
        clients.push_back({std::move(c), port});
        return true;
    };
    auto got = [&](auto& conn) { // Result<io::OwnedFd>: closed with the branch
        if (!conn) return;
        accepted.push_back(port_of(conn->native_handle(), true));
        ++t.accepted;
    };
    for (long i = 0; i < steps; ++i) {
        dog.pet(t.epochs, i);
        bool timer = true;
        std::optional<test::Probe> probe;
        switch (pick(3)) {
        case 0:
            probe = await_any(
                [&](auto& r) {
                    ++t.winners[r.index()];
                    got(r.template get<0>());
                },
                submit(*d, events::Accept{lfd}), submit(*d, events::Timeout(short_deadline(rng))));
            break;
        case 1:
            probe = await_any(
                [&](auto& r) {
                    ++t.winners[r.index()];
                    got(r.template get<0>());
                    got(r.template get<1>());
                },
                submit(*d, events::Accept{lfd}), submit(*d, events::Accept{lfd}),
                submit(*d, events::Timeout(short_deadline(rng))));
            break;
        case 2:
            timer = false;
            probe = await_one(submit(*d, events::Accept{lfd}), got, pick(2) == 0);
            break;
        }
        const bool destroyed = play(
            *d, rng, std::move(*probe),
            [&] {
                if (pick(4) == 0) connect();
            },
            [&] { return timer || connect(); }, bad);
        ++t.steps;
        ++(destroyed ? t.destroyed : t.finished);
        if (d->in_flight() != 0) bad.add("ops still in flight after settling");
        // Settled: every fd but the clients' is back where it was (names the step that leaked).
        const long others = test::fd_count() - long(clients.size());
        if (others != fds_besides_clients) {
            bad.add(std::to_string(others - fds_besides_clients) + " fd(s) leaked by a " +
                    (timer ? "when_any of accept(s) and a timer" : "plain accept") +
                    (destroyed ? " whose probe was destroyed" : " that finished"));
            fds_besides_clients = others;
        }
    }
    // What nobody accepted is still in the backlog.
    std::vector<int> backlog;
    ::fcntl(lfd, F_SETFL, ::fcntl(lfd, F_GETFL) | O_NONBLOCK);
    for (int fd; (fd = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC)) >= 0;) {
        backlog.push_back(port_of(fd, true));
        ::close(fd);
    }
    t.backlog += long(backlog.size());
    std::multiset<int> seen(accepted.begin(), accepted.end());
    seen.insert(backlog.begin(), backlog.end());
    for (const Client& c : clients) {
        const auto n = seen.count(c.port);
        if (n > 1) bad.add("connection from port " + std::to_string(c.port) + " accepted twice");
        if (n == 1) continue;
        // Neither returned nor in the backlog: the library accepted it and must have closed it.
        ::pollfd pfd{c.fd.get(), POLLIN | POLLRDHUP, 0};
        char byte;
        if (::poll(&pfd, 1, 1000) == 1 && ::recv(c.fd.get(), &byte, 1, MSG_DONTWAIT) <= 0)
            ++t.library_closed;
        else
            bad.add("connection from port " + std::to_string(c.port) +
                    " was accepted, never returned to the user and never closed");
    }
    if (seen.size() > clients.size()) bad.add("accepted connections nobody made");
}

// Scenario 4: Ring reads racing timers, with read deadlines, and destroyed mid-flight.
// A read's Task hands its bytes over the moment it finishes (`then`), not when the probe
// resumes: a probe destroyed while when_any waits for the losing timer to settle would take
// the bytes of a read that won along with its frame — the user's doing, not the Ring's.
template <class T, class F>
Task<T> then(Task<T> inner, F f) {
    T value = co_await std::move(inner);
    f(value);
    co_return value;
}

template <class Policy>
test::Probe ring_step(Ring<io::Stream, Policy>& ring, LocalDriver& d, Flow& f, int shape,
                      std::size_t n, std::chrono::microseconds after, Tally& t, Findings& bad) {
    std::byte out[512];
    const std::span<std::byte> span(out, n);
    auto count_error = [&t, &bad](const std::error_code& e) {
        if (e == std::errc::timed_out)
            ++t.timed_out;
        else if (e == std::errc::operation_canceled)
            ++t.cancelled;
        else
            bad.add("a Ring read failed: " + e.message());
    };
    auto took = [&f, &bad, &count_error, &out](const Result<std::size_t>& got) {
        if (!got)
            count_error(got.error());
        else if (*got == 0)
            bad.add("a Ring read saw end of file mid-stream");
        else
            f.got(out, *got);
    };
    switch (shape) {
    case 0: { // a read racing a timer
        auto r = co_await when_any(then(ring.read(span), took), submit(d, events::Timeout(after)));
        ++t.winners[r.index()];
        break;
    }
    case 1: { // read_exact racing a timer: what it copied before losing goes back to the Ring
        const std::size_t k = std::min<std::size_t>(n, 64);
        auto exact = [&f, &count_error, &out, k](const Result<void>& got) {
            if (!got)
                count_error(got.error());
            else
                f.got(out, k);
        };
        auto r = co_await when_any(then(ring.read_exact(span.first(k)), exact),
                                   submit(d, events::Timeout(after)));
        ++t.winners[r.index()];
        break;
    }
    default: // a read with a deadline (set by the caller), or none: maybe destroyed
        took(co_await ring.read(span));
        break;
    }
}
template <class Policy>
test::Probe ring_read_to_end(Ring<io::Stream, Policy>& ring, Flow& f, std::mt19937_64& rng,
                             Findings& bad) {
    std::byte out[512];
    for (;;) {
        auto got = co_await ring.read(std::span(out, 1 + rng() % sizeof out));
        if (!got) {
            bad.add("reading the Ring to its end failed: " + got.error().message());
            co_return;
        }
        if (*got == 0) co_return;
        f.got(out, *got);
    }
}

template <class Policy>
void ring_epoch(std::mt19937_64& rng, Tally& t, Findings& bad, long steps, Watchdog& dog) {
    auto d = LocalDriver::create(epoch_options(rng)).value();
    const bool socket = rng() % 2;
    test::SocketPair sock;
    test::Pipe pipe;
    const int rx = socket ? sock.a.get() : pipe.read.get();
    Flow f(rx, socket ? sock.b.get() : pipe.write.get(), rng());
    auto pick = [&](std::size_t n) { return std::size_t(rng() % n); };
    {
        Ring<io::Stream, Policy> ring(*d, io::Stream(io::OwnedFd(::dup(rx))));
        for (long i = 0; i < steps; ++i) {
            dog.pet(t.epochs, i);
            const int shape = int(pick(4)); // 2: with a deadline, 3: plain (maybe destroyed)
            if (shape == 2)
                REQUIRE(ring.set_read_timeout(short_deadline(rng)));
            else
                REQUIRE(ring.set_read_timeout(std::nullopt));
            const bool destroyed = play(
                *d, rng, ring_step(ring, *d, f, shape, 1 + pick(512), short_deadline(rng), t, bad),
                [&] {
                    if (pick(3) == 0) f.send(1 + pick(300));
                },
                [&] { // only a plain read needs data to finish; a timer or a deadline ends the rest
                    if (shape == 3 && f.unread() == 0) f.send(1 + pick(64));
                    return true;
                },
                // Unsettled: the next read meets a destroyed one's op. read_exact is not destroyed:
                // the Ring's contract puts back what it copied when it is *stopped*; destroyed,
                // the bytes it had copied go with the caller's span.
                bad, pick(2) == 0, shape != 1);
            ++t.steps;
            ++(destroyed ? t.destroyed : t.finished);
        }
        // The end of the stream: everything sent comes out of the Ring, in order.
        REQUIRE(ring.set_read_timeout(std::nullopt));
        if (socket)
            ::shutdown(sock.b.get(), SHUT_WR);
        else
            pipe.write.reset();
        test::Probe rest = ring_read_to_end(ring, f, rng, bad);
        long idle = 0;
        while (!rest.handle.done()) {
            const bool busy = d->in_flight() > 0;
            if (d->run_once(true).value_or(0) == 0 && !busy && ++idle > 10'000) {
                bad.add("reading the Ring to its end got stuck");
                break;
            }
        }
        rest.reset();
        while (d->in_flight() > 0) d->run_once(true);
    }
    if (f.mismatches || f.cursor != f.sent || f.discarded || f.drained)
        bad.add("Ring bytes do not balance: sent " + std::to_string(f.sent) + ", read " +
                std::to_string(f.received) + " (" + std::to_string(f.mismatches) +
                " out of order or wrong)");
}

// Scenario 5: provided-buffer reads, plain, in links and in when_any.
void provided_epoch(std::mt19937_64& rng, Tally& t, Findings& bad, long steps, Watchdog& dog) {
    auto d = LocalDriver::create(epoch_options(rng)).value();
    const std::uint32_t count = 1u << (rng() % 4);
    auto ring = ProvidedBuffers::create(*d, count, std::uint32_t(1 + rng() % 256)).value();
    const bool socket = rng() % 2;
    test::SocketPair sock;
    test::Pipe pipe;
    Flow f(socket ? sock.a.get() : pipe.read.get(), socket ? sock.b.get() : pipe.write.get(),
           rng());
    std::vector<ProvidedLease> held; // leases the user keeps a while: the ring runs dry
    auto pick = [&](std::size_t n) { return std::size_t(rng() % n); };
    auto keep = [&](std::optional<ProvidedLease>& lease, const Result<std::uint32_t>& n) {
        take(f, lease, n, bad);
        if (!n && n.error() == std::errc::no_buffer_space) ++t.no_buffers;
        if (lease && pick(3) == 0) held.push_back(std::move(*lease));
    };
    auto read = [&] { return events::ReadProvided{f.fd, current_offset, ring}; };
    for (long i = 0; i < steps; ++i) {
        dog.pet(t.epochs, i);
        if (!held.empty() && pick(3) == 0)
            held.erase(held.begin(), held.begin() + long(1 + pick(held.size())));
        std::optional<test::Probe> probe;
        const auto shape = pick(4); // 2, 3: with a timer
        const bool in_task = pick(2);
        switch (shape) {
        case 0:
            probe = await_one(
                submit(*d, read()), [&](auto& c) { keep(c.event.lease, c.result); }, in_task);
            break;
        case 1:
            probe = await_one(
                submit(*d, events::link(events::Nop{}, read())),
                [&](auto& c) {
                    keep(std::get<1>(c.event.events).lease, c.event.template result<1>());
                },
                in_task);
            break;
        case 2:
            probe = await_any(
                [&](auto& r) {
                    ++t.winners[r.index()];
                    auto& c = r.template get<0>();
                    if (r.index() != 0 && c.result) t.loser_bytes += long(*c.result);
                    keep(c.event.lease, c.result);
                },
                submit(*d, read()), submit(*d, events::Timeout(short_deadline(rng))));
            break;
        case 3:
            probe = await_any(
                [&](auto& r) {
                    ++t.winners[r.index()];
                    auto& c = r.template get<0>();
                    const auto n = c.event.template result<1>();
                    if (r.index() != 0 && n) t.loser_bytes += long(*n);
                    keep(std::get<1>(c.event.events).lease, n);
                },
                submit(*d, events::link(events::Nop{}, read())),
                submit(*d, events::Timeout(short_deadline(rng))));
            break;
        }
        const bool destroyed = play(
            *d, rng, std::move(*probe),
            [&] {
                if (pick(3) == 0) f.send(1 + pick(300));
            },
            [&] {
                if (shape < 2 && ring->available() > 0 && f.unread() == 0) f.send(1 + pick(64));
                return true; // no buffer left: the read fails with ENOBUFS at once
            },
            bad);
        ++t.steps;
        const std::size_t lost = f.settle();
        if (destroyed) {
            ++t.destroyed;
            t.lost_to_destroyed += long(lost);
        } else {
            ++t.finished;
            if (lost)
                bad.add(std::to_string(lost) +
                        " bytes left the fd in a provided-buffer read that finished, unreported");
        }
        if (d->in_flight() != 0) bad.add("ops still in flight after settling");
        if (ring->available() + held.size() != count)
            bad.add("provided buffers: " + std::to_string(ring->available()) + " in the ring + " +
                    std::to_string(held.size()) + " held != " + std::to_string(count));
    }
    held.clear();
    if (ring->available() != count)
        bad.add("provided buffers: " + std::to_string(ring->available()) + " of " +
                std::to_string(count) + " back in the ring at the end");
    f.drain();
    if (!f.balanced())
        bad.add("bytes do not balance: sent " + std::to_string(f.sent) + " received " +
                std::to_string(f.received) + " discarded " + std::to_string(f.discarded) +
                " left " + std::to_string(f.drained) + " mismatches " +
                std::to_string(f.mismatches));
}

// Runs a scenario's epochs until its share of the op budget is spent; checks buffers, fds and
// in-flight ops after each epoch, and prints what it covered.
void run_scenario(const char* name, std::uint64_t salt,
                  const std::function<void(std::mt19937_64&, test::BufferLedger&, Tally&, Findings&, long,
                                           Watchdog&)>& epoch) {
    const std::uint64_t seed = torture_seed();
    INFO("seed " << seed << " — rerun with RINGBAHN_SEED=" << seed << " and this test's name");
    std::mt19937_64 rng(seed ^ salt);
    const long ops = std::max(200L, torture_budget() / 20);
    test::BufferLedger ledger{test::OnFree::quarantine, poison};
    Tally t;
    Findings bad;
    Watchdog dog(name, seed);
    const int fds_before = test::fd_count();
    while (t.steps < ops) {
        epoch(rng, ledger, t, bad, long(100 + rng() % 200), dog);
        ++t.epochs;
        ledger.verify_and_release(); // the epoch's driver is gone: nothing is in the kernel
        if (ledger.corrupted()) bad.add("a buffer was written after it was freed");
        if (test::fd_count() != fds_before)
            bad.add("fds: " + std::to_string(test::fd_count()) + " open, " +
                    std::to_string(fds_before) + " at the start");
        if (bad.count) break; // the first finding, with its epoch and step, is the report
    }
    std::printf(
        "torture %s: seed %llu, %ld steps in %ld epochs (%ld destroyed mid-op, %ld finished); "
        "winners %ld/%ld/%ld, loser bytes kept %ld, bytes gone with destroyed awaiters %ld; "
        "%ld timed out, %ld cancelled, %ld ENOBUFS; accepted %ld, closed by the library %ld, "
        "left in the backlog %ld\n",
        name, (unsigned long long)seed, t.steps, t.epochs, t.destroyed, t.finished, t.winners[0],
        t.winners[1], t.winners[2], t.loser_bytes, t.lost_to_destroyed, t.timed_out, t.cancelled,
        t.no_buffers, t.accepted, t.library_closed, t.backlog);
    INFO(bad.first);
    CHECK(bad.count == 0);
    CHECK(ledger.allocated() == ledger.freed());
    CHECK(ledger.corrupted() == 0);
    CHECK(test::fd_count() == fds_before);
}

} // namespace

TEST_CASE("cancellation torture: random ops and destructions, every buffer freed once, never "
          "early",
          "[torture]") {
    const std::uint64_t seed = torture_seed();
    const long budget = torture_budget();
    INFO("seed " << seed << " — rerun with RINGBAHN_SEED=" << seed);
    std::mt19937_64 rng(seed);
    test::BufferLedger ledger{test::OnFree::quarantine, poison};
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
        REQUIRE(ledger.corrupted() == 0);
        completed += e.done;
        ++epochs;
    }
    CHECK(ledger.allocated() == ledger.freed());
    CHECK(ledger.corrupted() == 0);
    CHECK(test::fd_count() == fds_before);
    std::printf("torture: seed %llu, %ld ops in %ld epochs (%ld completed, the rest cancelled), "
                "faults injected: %ld parked, %ld failed, %ld short, %ld busy, %ld intr\n",
                (unsigned long long)seed, ops, epochs, completed, faults.parked, faults.failed,
                faults.shortened, faults.busy, faults.intr);
}

TEST_CASE("torture: links destroyed at every point of the chain lose no byte, fd or buffer",
          "[torture][link]") {
    run_scenario("links", 0x1111,
                 [](auto& rng, test::BufferLedger& ledger, Tally& t, Findings& bad, long steps, Watchdog& dog) {
                     links_epoch(rng, ledger, t, bad, steps, dog);
                 });
}

TEST_CASE("torture: when_any over a recv and a short timer hands every received byte to the user",
          "[torture][when]") {
    run_scenario("when_any recv", 0x2222,
                 [](auto& rng, test::BufferLedger& ledger, Tally& t, Findings& bad, long steps, Watchdog& dog) {
                     recv_race_epoch(rng, ledger, t, bad, steps, dog);
                 });
}

TEST_CASE("torture: when_any over accepts and a timer returns or closes every connection",
          "[torture][when][accept]") {
    run_scenario("when_any accept", 0x3333,
                 [](auto& rng, test::BufferLedger&, Tally& t, Findings& bad, long steps, Watchdog& dog) {
                     accept_race_epoch(rng, t, bad, steps, dog);
                 });
}

TEST_CASE(
    "torture: Ring reads racing timers, with deadlines or destroyed, give every byte in order",
    "[torture][ring]") {
    run_scenario("ring reads", 0x4444,
                 [](auto& rng, test::BufferLedger&, Tally& t, Findings& bad, long steps, Watchdog& dog) {
                     if (rng() % 2)
                         ring_epoch<policies::Heap<96>>(rng, t, bad, steps, dog);
                     else
                         ring_epoch<policies::Heap<>>(rng, t, bad, steps, dog);
                 });
}

TEST_CASE("torture: provided-buffer reads in links and when_any give back every buffer and byte",
          "[torture][provided]") {
    run_scenario("provided reads", 0x5555,
                 [](auto& rng, test::BufferLedger&, Tally& t, Findings& bad, long steps, Watchdog& dog) {
                     provided_epoch(rng, t, bad, steps, dog);
                 });
}
