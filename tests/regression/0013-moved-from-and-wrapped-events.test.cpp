// SPDX-License-Identifier: MIT
// Found by the outside attack on issue 13's sixth step:
//  * submitting an event that was moved from dereferenced null inside the library (a link's or
//    with_timeout's result table, FilesUpdate's fd list, a timer's timespec, the OpHandle of a
//    Timeout, PollAdd or TimeoutRemove). Such an event now fails with EINVAL (or, for an op
//    acting on a handle that names nothing, ENOENT), like a moved-from Readv already did.
//  * a multishot event wrapped in link(), with_timeout() or fixed() compiled, and every CQE but
//    the last was dropped with the fd or buffer it carried. These are compile-time errors now.
//  * a Recvmsg resubmitted kept the previous sender's address length: the next one was cut.
//  * an exception thrown in a when_any branch called std::terminate.
#include <catch2/catch_test_macros.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <coroutine>
#include <cstring>
#include <expected>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>
import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using namespace std::chrono_literals;
using drivers::LocalDriver;

namespace {
template <class E>
concept TimeoutWrappable = requires(E e) { events::with_timeout(std::move(e), 1ms); };
template <class E>
concept Linkable = requires(E e) { events::link(std::move(e)); };
template <class E>
concept FixedWrappable = requires(E e) { events::fixed(std::move(e)); };

static_assert(!TimeoutWrappable<events::AcceptMultishot> && !Linkable<events::AcceptMultishot> &&
              !FixedWrappable<events::AcceptMultishot>);
static_assert(!TimeoutWrappable<events::RecvMultishot> && !Linkable<events::RecvMultishot>);
static_assert(TimeoutWrappable<events::Nop> && Linkable<events::Nop> && FixedWrappable<events::Accept>);

template <class E>
Result<std::uint32_t> moved_from_result(LocalDriver& d, E e) {
    E keep = std::move(e);
    (void)keep;
    return block_on(d, [&]() -> Task<Result<std::uint32_t>> {
        auto out = co_await submit(d, std::move(e));
        co_return out.result;
    }());
}
bool is(const Result<std::uint32_t>& r, std::errc e) { return !r && r.error() == e; }

Task<int> throws() {
    throw std::runtime_error("branch");
    co_return 0;
}
} // namespace

TEST_CASE("a moved-from event fails with an error, never a null dereference", "[regression]") {
    auto d = test::make_driver<LocalDriver>();
    CHECK(is(moved_from_result(*d, events::link(events::Nop{}, events::Nop{})), std::errc::invalid_argument));
    CHECK(is(moved_from_result(*d, events::with_timeout(events::Nop{}, 1s)), std::errc::invalid_argument));
    CHECK(is(moved_from_result(*d, events::FilesUpdate({-1}, 0)), std::errc::invalid_argument));
    CHECK(is(moved_from_result(*d, events::Timeout(1s)), std::errc::invalid_argument));
    CHECK(is(moved_from_result(*d, events::TimeoutRemove{events::Timeout(1s).handle}), std::errc::no_such_file_or_directory));
    events::Timeout t(1s);
    auto keep = std::move(t);
    CHECK_FALSE(t.handle.in_flight()); // a moved-from handle names nothing
    test::Pipe p;
    REQUIRE(::write(p.write.get(), "x", 1) == 1);
    auto poll = moved_from_result(*d, events::PollAdd{p.read.get(), 1}); // POLLIN: the fd is copied
    CHECK(poll);
}

TEST_CASE("a resubmitted recvmsg has room for any sender's address", "[regression]") {
    auto d = test::make_driver<LocalDriver>();
    const std::string base = "/tmp/rb-0013-recvmsg-" + std::to_string(::getpid());
    auto bound = [](const std::string& path) {
        test::Fd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
        ::unlink(path.c_str());
        REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        return std::pair{std::move(fd), a};
    };
    auto [rx, rx_addr] = bound(base + "-rx");
    auto [short_tx, s_addr] = bound(base + "-a");
    auto [long_tx, l_addr] = bound(base + "-a-much-longer-name");
    auto send = [&](int fd) {
        REQUIRE(::sendto(fd, "hi", 2, 0, reinterpret_cast<sockaddr*>(&rx_addr), sizeof rx_addr) == 2);
    };
    send(short_tx.get());
    send(long_tx.get());
    block_on(*d, [&]() -> Task<void> {
        std::vector<std::vector<std::byte>> bufs;
        bufs.emplace_back(16);
        auto [first, n1] = co_await submit(*d, events::Recvmsg{rx.get(), std::move(bufs)});
        CHECK(n1);
        CHECK(std::string(reinterpret_cast<sockaddr_un*>(&first.header->peer)->sun_path) == base + "-a");
        auto [second, n2] = co_await submit(*d, std::move(first)); // the same event again
        CHECK(n2);
        CHECK(std::string(reinterpret_cast<sockaddr_un*>(&second.header->peer)->sun_path) ==
              base + "-a-much-longer-name");
    }());
    for (const char* s : {"-rx", "-a", "-a-much-longer-name"}) ::unlink((base + s).c_str());
}

TEST_CASE("an exception in a when_any branch reaches the awaiter", "[regression][when]") {
    auto d = test::make_driver<LocalDriver>();
    bool caught = false;
    block_on(*d, [&]() -> Task<void> {
        try {
            (void)co_await when_any(throws(), submit(*d, events::Timeout(1ms)));
        } catch (const std::runtime_error&) {
            caught = true;
        }
    }());
    CHECK(caught);
}
