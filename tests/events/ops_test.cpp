// SPDX-License-Identifier: MIT
// The op catalogue beyond the first events: each op round-trips on the real kernel and gives a
// clear error for bad input. One section per op; the README's op table points here.
#include <catch2/catch_test_macros.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/openat2.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using namespace std::chrono_literals;
using drivers::LocalDriver;
using Buf = std::vector<std::byte>;

namespace {

template <class E>
Task<OutputOf<E>> one(LocalDriver& d, E e) {
    co_return co_await submit(d, std::move(e));
}
// One op, run to completion: its output (event.cppm: usually the event back and its result).
template <class E>
OutputOf<E> run(LocalDriver& d, E e) {
    return block_on(d, one(d, std::move(e)));
}

struct TempDir {
    std::string path;
    TempDir() {
        char p[] = "/tmp/ringbahn-ops-XXXXXX";
        path = ::mkdtemp(p);
    }
    ~TempDir() { std::filesystem::remove_all(path); }
    std::string operator/(std::string_view name) const { return path + "/" + std::string(name); }
};

void write_file(const std::string& path, std::string_view content) {
    test::Fd f(::open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0600));
    REQUIRE(::write(f.get(), content.data(), content.size()) == ssize_t(content.size()));
}

std::string read_fd(int fd, std::size_t max = 256) {
    std::string s(max, '\0');
    const ssize_t n = ::pread(fd, s.data(), max, 0);
    s.resize(n > 0 ? std::size_t(n) : 0);
    return s;
}

off_t size_of(int fd) {
    struct stat st{};
    ::fstat(fd, &st);
    return st.st_size;
}

// Newer than liburing 2.3's header (uapi enum io_uring_op).
constexpr std::uint8_t op_bind = 56, op_listen = 57;

constexpr auto ebadf = std::errc::bad_file_descriptor;

} // namespace

TEST_CASE("file ops: statx, fallocate, ftruncate, fadvise, madvise, sync_file_range") {
    auto d = test::make_driver<LocalDriver>();
    TempDir dir;
    write_file(dir / "f", "twelve bytes");

    SECTION("statx") {
        auto [st, r] = run(*d, events::Statx{AT_FDCWD, dir / "f"});
        REQUIRE(r);
        CHECK(st.result->stx_size == 12u);
        CHECK(run(*d, events::Statx{AT_FDCWD, dir / "missing"}).result.error() ==
              std::errc::no_such_file_or_directory);
    }
    test::Fd f(::open((dir / "f").c_str(), O_RDWR | O_CLOEXEC));
    SECTION("fallocate") {
        REQUIRE(run(*d, events::Fallocate{f.get(), 0, 0, 8192}).result);
        CHECK(size_of(f.get()) == 8192);
        CHECK(run(*d, events::Fallocate{-1, 0, 0, 8192}).result.error() == ebadf);
    }
    SECTION("ftruncate") {
        REQUIRE(run(*d, events::Ftruncate{f.get(), 5}).result);
        CHECK(read_fd(f.get()) == "twelv");
        CHECK(run(*d, events::Ftruncate{-1, 5}).result.error() == ebadf);
    }
    SECTION("fadvise") {
        CHECK(run(*d, events::Fadvise{f.get(), 0, 0, POSIX_FADV_SEQUENTIAL}).result);
        CHECK(run(*d, events::Fadvise{f.get(), 0, 0, 12345}).result.error() ==
              std::errc::invalid_argument);
    }
    SECTION("madvise") {
        const std::size_t len = 1 << 16;
        void* m = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        REQUIRE(m != MAP_FAILED);
        std::span<std::byte> mem(static_cast<std::byte*>(m), len);
        mem[0] = std::byte{42};
        REQUIRE(run(*d, events::Madvise{unsafe_borrow(mem), MADV_DONTNEED}).result);
        CHECK(mem[0] == std::byte{0}); // private anonymous pages read as zero after DONTNEED
        CHECK(run(*d, events::Madvise{unsafe_borrow(mem.subspan(1)), MADV_DONTNEED}).result.error() ==
              std::errc::invalid_argument); // not page aligned
        ::munmap(m, len);
    }
    SECTION("sync_file_range") {
        CHECK(run(*d, events::SyncFileRange{f.get(), 0, 12, SYNC_FILE_RANGE_WRITE}).result);
        CHECK(run(*d, events::SyncFileRange{-1, 0, 12, SYNC_FILE_RANGE_WRITE}).result.error() == ebadf);
    }
}

TEST_CASE("path ops: renameat, unlinkat, mkdirat, symlinkat, linkat, openat2") {
    auto d = test::make_driver<LocalDriver>();
    TempDir dir;
    write_file(dir / "a", "content");
    constexpr auto enoent = std::errc::no_such_file_or_directory;

    SECTION("mkdirat") {
        REQUIRE(run(*d, events::Mkdirat{AT_FDCWD, dir / "sub"}).result);
        CHECK(std::filesystem::is_directory(dir / "sub"));
        CHECK(run(*d, events::Mkdirat{AT_FDCWD, dir / "sub"}).result.error() == std::errc::file_exists);
    }
    SECTION("renameat") {
        REQUIRE(run(*d, events::Renameat{AT_FDCWD, dir / "a", AT_FDCWD, dir / "b"}).result);
        CHECK(std::filesystem::exists(dir / "b"));
        CHECK(!std::filesystem::exists(dir / "a"));
        CHECK(run(*d, events::Renameat{AT_FDCWD, dir / "a", AT_FDCWD, dir / "c"}).result.error() == enoent);
    }
    SECTION("unlinkat") {
        REQUIRE(run(*d, events::Unlinkat{AT_FDCWD, dir / "a"}).result);
        CHECK(!std::filesystem::exists(dir / "a"));
        CHECK(run(*d, events::Unlinkat{AT_FDCWD, dir / "a"}).result.error() == enoent);
        std::filesystem::create_directory(dir / "d");
        CHECK(run(*d, events::Unlinkat{AT_FDCWD, dir / "d", AT_REMOVEDIR}).result);
    }
    SECTION("symlinkat") {
        REQUIRE(run(*d, events::Symlinkat{"a", AT_FDCWD, dir / "l"}).result);
        CHECK(std::filesystem::read_symlink(dir / "l") == "a");
        CHECK(run(*d, events::Symlinkat{"a", AT_FDCWD, dir / "l"}).result.error() == std::errc::file_exists);
    }
    SECTION("linkat") {
        REQUIRE(run(*d, events::Linkat{AT_FDCWD, dir / "a", AT_FDCWD, dir / "h"}).result);
        CHECK(std::filesystem::hard_link_count(dir / "a") == 2u);
        CHECK(run(*d, events::Linkat{AT_FDCWD, dir / "x", AT_FDCWD, dir / "y"}).result.error() == enoent);
    }
    SECTION("openat2") {
        test::Fd dfd(::open(dir.path.c_str(), O_DIRECTORY | O_CLOEXEC));
        auto opened = run(*d, events::Openat2{dfd.get(), "a", O_RDONLY, RESOLVE_BENEATH});
        REQUIRE(opened);
        CHECK(read_fd(opened->native_handle()) == "content");
        CHECK(run(*d, events::Openat2{dfd.get(), "../etc/passwd", O_RDONLY, RESOLVE_BENEATH})
                  .error() == std::errc::cross_device_link); // EXDEV: escapes dirfd
    }
}

TEST_CASE("xattr ops: fsetxattr, fgetxattr, setxattr, getxattr") {
    auto d = test::make_driver<LocalDriver>();
    TempDir dir;
    write_file(dir / "x", "");
    if (::setxattr((dir / "x").c_str(), "user.probe", "1", 1, 0) != 0)
        SKIP("this filesystem has no user xattrs");
    test::Fd f(::open((dir / "x").c_str(), O_RDWR | O_CLOEXEC));

    REQUIRE(run(*d, events::Fsetxattr<>{f.get(), "user.ring", test::bytes("bahn")}).result);
    auto [g, gn] = run(*d, events::Fgetxattr<>{f.get(), "user.ring", Buf(16)});
    REQUIRE(gn == 4u);
    CHECK(test::text(g.buf, 4) == "bahn");
    REQUIRE(run(*d, events::Setxattr<>{dir / "x", "user.path", test::bytes("yes")}).result);
    auto [p, pn] = run(*d, events::Getxattr<>{dir / "x", "user.path", Buf(16)});
    REQUIRE(pn == 3u);
    CHECK(test::text(p.buf, 3) == "yes");

    CHECK(run(*d, events::Fgetxattr<>{f.get(), "user.none", Buf(16)}).result.error() ==
          std::errc::no_message_available); // ENODATA
    CHECK(run(*d, events::Getxattr<>{dir / "missing", "user.ring", Buf(16)}).result.error() ==
          std::errc::no_such_file_or_directory);
    CHECK(run(*d, events::Fgetxattr<>{f.get(), "user.ring", Buf(2)}).result.error() ==
          std::errc::result_out_of_range); // ERANGE: buffer too small
    CHECK(run(*d, events::Fsetxattr<>{-1, "user.ring", test::bytes("x")}).result.error() == ebadf);
    CHECK(run(*d, events::Setxattr<>{dir / "x", "user.ring", test::bytes("x"), XATTR_CREATE})
              .result.error() == std::errc::file_exists);
}

TEST_CASE("pipe ops: splice, tee") {
    auto d = test::make_driver<LocalDriver>();
    test::Pipe a, b;
    ::write(a.write.get(), "spliced", 7);

    SECTION("tee, then splice into a file") {
        auto [t, tn] = run(*d, events::Tee{a.read.get(), b.write.get(), 64});
        REQUIRE(tn == 7u);
        test::Fd file = test::temp_file();
        auto [s, sn] = run(*d, events::Splice{a.read.get(), current_offset, file.get(), 0, 64});
        REQUIRE(sn == 7u);
        CHECK(read_fd(file.get()) == "spliced");
        char copy[8] = {};
        CHECK(::read(b.read.get(), copy, 8) == 7); // tee left a copy in the other pipe
        CHECK(std::string(copy) == "spliced");
    }
    SECTION("bad input") {
        test::Fd f1 = test::temp_file(), f2 = test::temp_file();
        CHECK(run(*d, events::Splice{f1.get(), 0, f2.get(), 0, 64}).result.error() ==
              std::errc::invalid_argument); // neither side is a pipe
        CHECK(run(*d, events::Tee{f1.get(), b.write.get(), 64}).result.error() ==
              std::errc::invalid_argument);
        CHECK(run(*d, events::Splice{-1, current_offset, b.write.get(), current_offset, 64}).result.error() == ebadf);
    }
}

namespace {
Task<void> bind_listen_connect(LocalDriver& d) {
    auto sock = co_await submit(d, events::Socket{AF_INET, SOCK_STREAM});
    REQUIRE(sock);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    auto [b, br] = co_await submit(d, events::Bind{sock->native_handle(), reinterpret_cast<sockaddr*>(&addr), sizeof addr});
    REQUIRE(br);
    auto [l, lr] = co_await submit(d, events::Listen{sock->native_handle(), 16});
    REQUIRE(lr);
    socklen_t len = sizeof addr;
    ::getsockname(sock->native_handle(), reinterpret_cast<sockaddr*>(&addr), &len);
    CHECK(addr.sin_port != 0);
    test::Fd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    auto [c, cr] = co_await submit(d, events::Connect{client.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr});
    CHECK(cr);
    auto conn = co_await submit(d, events::Accept{sock->native_handle()});
    REQUIRE(conn); // closed as it goes out of scope
    // Bad input: a second bind, listen on a datagram socket, an unknown family.
    auto [b2, br2] = co_await submit(d, events::Bind{sock->native_handle(), reinterpret_cast<sockaddr*>(&addr), sizeof addr});
    CHECK(br2.error() == std::errc::invalid_argument);
    test::Fd udp(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    auto [l2, lr2] = co_await submit(d, events::Listen{udp.get()});
    CHECK(lr2.error() == std::errc::operation_not_supported);
    auto fd2 = co_await submit(d, events::Socket{12345, SOCK_STREAM});
    CHECK(!fd2);
}
} // namespace

TEST_CASE("socket ops: socket, bind, listen, shutdown") {
    SECTION("through the ring") {
        auto d = test::make_driver<LocalDriver>();
        block_on(*d, bind_listen_connect(*d));
    }
    SECTION("bind and listen fall back to the syscalls on a kernel without them") {
        auto d = LocalDriver::create({.entries = 64, .hide_opcodes = {op_bind, op_listen}}).value();
        CHECK(!d->supports(op_bind));
        block_on(*d, bind_listen_connect(*d));
    }
    SECTION("shutdown") {
        auto d = test::make_driver<LocalDriver>();
        test::SocketPair sp;
        REQUIRE(run(*d, events::Shutdown{sp.a.get(), SHUT_WR}).result);
        char c;
        CHECK(::read(sp.b.get(), &c, 1) == 0); // the peer sees end of file
        test::Pipe p;
        CHECK(run(*d, events::Shutdown{p.read.get(), SHUT_WR}).result.error() ==
              std::errc::not_a_socket);
    }
}

TEST_CASE("message ops: sendmsg, recvmsg (datagrams with addresses)") {
    auto d = test::make_driver<LocalDriver>();
    test::Fd rx(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)), tx(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    REQUIRE(::bind(rx.get(), reinterpret_cast<sockaddr*>(&addr), len) == 0);
    ::getsockname(rx.get(), reinterpret_cast<sockaddr*>(&addr), &len);

    std::vector<Buf> parts{test::bytes("gather "), test::bytes("me")};
    auto [s, sn] = run(*d, events::Sendmsg<>{tx.get(), std::move(parts), reinterpret_cast<sockaddr*>(&addr), len});
    REQUIRE(sn == 9u);
    std::vector<Buf> into{Buf(4), Buf(16)};
    auto [r, rn] = run(*d, events::Recvmsg<>{rx.get(), std::move(into)});
    REQUIRE(rn == 9u);
    CHECK(test::text(r.bufs[0], 4) + test::text(r.bufs[1], 5) == "gather me");
    CHECK(r.header->msg.msg_namelen == sizeof(sockaddr_in)); // the sender's address came back

    CHECK(run(*d, events::Sendmsg<>{-1, std::vector<Buf>{test::bytes("x")}}).result.error() == ebadf);
    CHECK(run(*d, events::Recvmsg<>{-1, std::vector<Buf>{Buf(4)}}).result.error() == ebadf);
}

namespace {
Task<void> poll_then_remove(LocalDriver& d, int fd) {
    events::PollAdd poll{fd, POLLIN};
    OpHandle h = poll.handle;
    auto [res, removed] = co_await when_all(submit(d, std::move(poll)), submit(d, events::PollRemove{h}));
    CHECK(res.result.error() == std::errc::operation_canceled);
    CHECK(removed.result);
    CHECK(!h.in_flight());
    // Inside a deadline the poll is still the op its handle names.
    events::PollAdd linked{fd, POLLIN};
    OpHandle lh = linked.handle;
    auto [lres, lremoved] = co_await when_all(submit(d, events::with_timeout(std::move(linked), 10s)),
                                              submit(d, events::PollRemove{lh}));
    CHECK(lres.result.error() == std::errc::operation_canceled);
    CHECK(lremoved.result);
    CHECK(!lh.in_flight());
}
Task<void> timeout_remove_update(LocalDriver& d) {
    events::Timeout long_timer(10s);
    OpHandle h = long_timer.handle;
    auto [t, removed] = co_await when_all(submit(d, std::move(long_timer)), submit(d, events::TimeoutRemove{h}));
    CHECK(t.result.error() == std::errc::operation_canceled);
    CHECK(removed.result);

    events::Timeout again(10s);
    OpHandle h2 = again.handle;
    const auto start = std::chrono::steady_clock::now();
    auto [t2, updated] = co_await when_all(submit(d, std::move(again)), submit(d, events::TimeoutUpdate{h2, 1ms}));
    CHECK(t2.result == events::Timeout::expired); // fired at the new, earlier time
    CHECK(updated.result);
    CHECK(std::chrono::steady_clock::now() - start < 5s);
}
} // namespace

TEST_CASE("poll ops: poll_add, poll_remove") {
    auto d = test::make_driver<LocalDriver>();
    test::Pipe p;
    SECTION("ready") {
        ::write(p.write.get(), "x", 1);
        auto [e, mask] = run(*d, events::PollAdd{p.read.get(), POLLIN});
        REQUIRE(mask);
        CHECK((*mask & POLLIN) != 0);
    }
    SECTION("removed while waiting") { block_on(*d, poll_then_remove(*d, p.read.get())); }
    SECTION("bad input") {
        CHECK(run(*d, events::PollRemove{OpHandle{}}).result.error() == std::errc::no_such_file_or_directory);
        auto [e, mask] = run(*d, events::PollAdd{-1, POLLIN});
        CHECK(mask.error() == ebadf);
    }
}

TEST_CASE("timer ops: timeout_remove, timeout_update") {
    auto d = test::make_driver<LocalDriver>();
    block_on(*d, timeout_remove_update(*d));
    CHECK(run(*d, events::TimeoutRemove{OpHandle{}}).result.error() == std::errc::no_such_file_or_directory);
    CHECK(run(*d, events::TimeoutUpdate{OpHandle{}, 1ms}).result.error() == std::errc::no_such_file_or_directory);
}

TEST_CASE("msg_ring: a CQE posted to another driver's ring") {
    auto d = test::make_driver<LocalDriver>();
    auto target = test::make_driver<LocalDriver>();
    REQUIRE(run(*d, events::MsgRing{target->uring_fd(), 7}).result);
    CHECK(target->poll().value() >= 1u); // the driver's own user_data 0: it woke, nothing else
    test::Pipe p;
    CHECK(run(*d, events::MsgRing{p.read.get(), 7}).result.error().value() == EBADFD);
}

TEST_CASE("waitid: a child's exit status") {
    auto d = test::make_driver<LocalDriver>();
    const pid_t child = ::fork();
    if (child == 0) ::_exit(7);
    auto [w, r] = run(*d, events::Waitid{P_PID, id_t(child), WEXITED});
    REQUIRE(r);
    CHECK(w.info->si_pid == child);
    CHECK(w.info->si_status == 7);
    CHECK(run(*d, events::Waitid{P_PID, id_t(child), WEXITED}).result.error() == std::errc::no_child_process);
}

namespace {
Task<void> futex_round_trip(LocalDriver& d) {
    auto word = std::make_shared<std::atomic<std::uint32_t>>(0);
    auto wake = [](LocalDriver& d, events::FutexWord w) -> Task<Result<std::uint32_t>> {
        co_await submit(d, events::Nop{}); // one loop turn: the wait is in the kernel now
        w->store(1);
        auto [e, r] = co_await submit(d, events::FutexWake{w, 1});
        co_return r;
    };
    auto [waited, woke] = co_await when_all(submit(d, events::FutexWait{word, 0}), wake(d, word));
    CHECK(waited.result);
    CHECK(woke == 1u);
    auto [e, stale] = co_await submit(d, events::FutexWait{word, 0}); // the word is 1 now
    CHECK(stale.error() == std::errc::resource_unavailable_try_again);
}
} // namespace

TEST_CASE("futex ops: futex_wait, futex_wake") {
    auto d = test::make_driver<LocalDriver>();
    block_on(*d, futex_round_trip(*d));
    auto word = std::make_shared<std::atomic<std::uint32_t>>(0);
    CHECK(run(*d, events::FutexWake{word, 1}).result == 0u); // nobody waits
}

TEST_CASE("fixed files: files_update, and fixed() on fd-taking ops") {
    auto d = test::make_driver<LocalDriver>();
    test::Pipe p;
    CHECK(run(*d, events::FilesUpdate{{p.read.get()}, 0}).result.error() == std::errc::no_such_device_or_address);
    REQUIRE(d->register_files(4));
    REQUIRE(run(*d, events::FilesUpdate{{p.read.get(), p.write.get()}, 0}).result == 2u);
    p.read.reset(); // the table holds its own references
    p.write.reset();
    REQUIRE(run(*d, events::fixed(events::Write<>{1, test::bytes("fixed")})).result == 5u);
    auto [r, rn] = run(*d, events::fixed(events::Read<>{0, Buf(16)}));
    REQUIRE(rn == 5u);
    CHECK(test::text(r.event.buf, 5) == "fixed");
    CHECK(run(*d, events::fixed(events::Read<>{3, Buf(16)})).result.error() == ebadf); // empty slot
    // fixed() over an event with optional hooks keeps them: a deadline reads each SQE's result.
    REQUIRE(run(*d, events::fixed(events::Write<>{1, test::bytes("again")})).result == 5u);
    auto [t, tn] = run(*d, events::fixed(events::with_timeout(events::Read<>{0, Buf(16)}, 10s)));
    REQUIRE(tn == 5u);
    CHECK(test::text(t.event.event.buf, 5) == "again");
}

TEST_CASE("an op the kernel lacks fails with operation_not_supported, never hangs") {
    auto d = LocalDriver::create({.entries = 64, .hide_opcodes = {IORING_OP_STATX, IORING_OP_TEE}}).value();
    CHECK(!d->supports(IORING_OP_STATX));
    CHECK(d->supports(IORING_OP_READ));
    CHECK(run(*d, events::Statx{AT_FDCWD, "/"}).result.error() == std::errc::operation_not_supported);
    // In a link, the missing op fails and the rest are cancelled, as any failure would.
    test::Pipe a, b;
    auto [l, lr] = run(*d, events::link(events::Tee{a.read.get(), b.write.get(), 1}, events::Nop{}));
    CHECK(lr.error() == std::errc::operation_not_supported);
    CHECK(l.result<1>().error() == std::errc::operation_canceled);
}
