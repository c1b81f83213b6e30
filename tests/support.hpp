// SPDX-License-Identifier: MIT
// Test support: counted buffers, fd counts, pipes and sockets, an eager probe coroutine.
#pragma once
#include <liburing.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>
#include <utility>

import ringbahn;

namespace test {

// A write to a pipe whose reader is gone raises SIGPIPE; the tests want the EPIPE instead.
inline const bool sigpipe_ignored = (::signal(SIGPIPE, SIG_IGN), true);

// Counts how often CountedBuffer storage is freed; waitable from another thread.
class FreeCounter {
  public:
    void add() noexcept {
        count_.fetch_add(1, std::memory_order_acq_rel);
        count_.notify_all();
    }
    [[nodiscard]] int count() const noexcept { return count_.load(std::memory_order_acquire); }
    void wait_for(int n) const noexcept {
        for (int c = count(); c < n; c = count()) count_.wait(c, std::memory_order_acquire);
    }

  private:
    std::atomic<int> count_{0};
};

// An OwnedBuffer that reports when its heap storage is freed (exactly once, by whoever owns it
// last: the caller, the event, or a Cancellation).
class CountedBuffer {
  public:
    static constexpr bool owns_stable_bytes = true; // OwnedBuffer: heap bytes, moved by pointer
    CountedBuffer(std::size_t size, FreeCounter& frees)
        : data_(new std::byte[size]()), size_(size), frees_(&frees) {}
    CountedBuffer(CountedBuffer&& o) noexcept
        : data_(std::exchange(o.data_, nullptr)), size_(o.size_), frees_(o.frees_) {}
    CountedBuffer& operator=(CountedBuffer&& o) noexcept {
        if (this != &o) {
            release();
            data_ = std::exchange(o.data_, nullptr);
            size_ = o.size_;
            frees_ = o.frees_;
        }
        return *this;
    }
    ~CountedBuffer() { release(); }

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
        delete[] std::exchange(data_, nullptr);
        frees_->add();
    }
    std::byte* data_;
    std::size_t size_;
    FreeCounter* frees_;
};
static_assert(ringbahn::OwnedBuffer<CountedBuffer>);

// Bytes waiting to be read on a socket or pipe (what no op took).
inline int readable(int fd) {
    int n = 0;
    ::ioctl(fd, FIONREAD, &n);
    return n;
}

// ASan builds bypass the library's free lists (so ASan sees a use after free of them).
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool asan_build = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool asan_build = true;
#else
inline constexpr bool asan_build = false;
#endif
#else
inline constexpr bool asan_build = false;
#endif

inline int fd_count() {
    int n = 0;
    if (DIR* d = ::opendir("/proc/self/fd")) {
        while (::readdir(d)) ++n;
        ::closedir(d);
    }
    return n - 3; // ".", "..", and the DIR's own fd
}

struct Fd {
    int fd = -1;
    Fd() = default;
    explicit Fd(int f) : fd(f) {}
    Fd(Fd&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
    Fd& operator=(Fd&& o) noexcept {
        std::swap(fd, o.fd);
        return *this;
    }
    ~Fd() { reset(); }
    void reset() {
        if (fd >= 0) ::close(std::exchange(fd, -1));
    }
    int get() const { return fd; }
};

struct Pipe {
    Fd read, write;
    Pipe() {
        int p[2];
        if (::pipe2(p, O_CLOEXEC) != 0) std::abort();
        read = Fd(p[0]);
        write = Fd(p[1]);
    }
};

struct SocketPair {
    Fd a, b;
    SocketPair() {
        int s[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s) != 0) std::abort();
        a = Fd(s[0]);
        b = Fd(s[1]);
    }
};

// A TCP listener on 127.0.0.1 with a kernel-chosen port.
struct Listener {
    Fd fd;
    sockaddr_in addr{};
    Listener() : fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
            ::listen(fd.get(), 64) != 0 ||
            ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0)
            std::abort();
    }
    const sockaddr* sockaddr_ptr() const { return reinterpret_cast<const sockaddr*>(&addr); }
    // A blocking connect: on loopback it completes once the handshake is in the backlog.
    Fd connect_client() const {
        Fd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        if (::connect(c.get(), sockaddr_ptr(), sizeof addr) != 0) std::abort();
        return c;
    }
};

// A temp file, unlinked at once: only its fd names it.
inline Fd temp_file() {
    char path[] = "/tmp/ringbahn-test-XXXXXX";
    Fd f(::mkostemp(path, O_CLOEXEC));
    ::unlink(path);
    return f;
}

// A checksum for comparing large transfers (FNV-1a, 64-bit), fed piece by piece: a stream of
// chunks sums the same as the whole buffer.
struct Fnv1a {
    std::uint64_t sum = 1469598103934665603ull;
    std::size_t bytes = 0;
    void add(std::span<const std::byte> data) {
        for (auto b : data) sum = (sum ^ std::uint64_t(b)) * 1099511628211ull;
        bytes += data.size();
    }
};
inline std::uint64_t fnv1a(std::span<const std::byte> data) {
    Fnv1a h;
    h.add(data);
    return h.sum;
}

// n bytes from a seeded generator: the same seed, the same bytes.
inline std::vector<std::byte> random_bytes(std::size_t n, std::uint64_t seed) {
    std::vector<std::byte> v(n);
    std::mt19937_64 rng(seed);
    for (auto& b : v) b = std::byte(rng());
    return v;
}

// A thread that writes all of data to fd in `chunk`-byte writes, then shuts the write side
// down (the reader sees end of file). Joined when the returned jthread goes.
inline std::jthread write_then_shutdown(int fd, std::span<const std::byte> data, std::size_t chunk) {
    return std::jthread([fd, data, chunk] {
        std::size_t sent = 0;
        while (sent < data.size()) {
            const ssize_t n = ::write(fd, data.data() + sent, std::min(chunk, data.size() - sent));
            if (n <= 0) break;
            sent += std::size_t(n);
        }
        ::shutdown(fd, SHUT_WR);
    });
}

inline std::vector<std::byte> bytes(std::string_view s) {
    std::vector<std::byte> v(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) v[i] = static_cast<std::byte>(s[i]);
    return v;
}
inline std::string text(const std::vector<std::byte>& v, std::size_t n) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>(v[i]);
    return s;
}

// An eager coroutine the test owns: it runs until its first suspension when made, and
// destroying the Probe destroys the frame — the way a cancelled task goes away.
struct Probe {
    struct promise_type {
        Probe get_return_object() {
            return Probe{std::coroutine_handle<promise_type>::from_promise(*this)};
        }
        std::suspend_never initial_suspend() noexcept { return {}; }
        std::suspend_always final_suspend() noexcept { return {}; }
        void return_void() noexcept {}
        void unhandled_exception() noexcept { std::terminate(); }
    };
    explicit Probe(std::coroutine_handle<promise_type> h) : handle(h) {}
    Probe(Probe&& o) noexcept : handle(std::exchange(o.handle, {})) {}
    Probe& operator=(Probe&& o) noexcept {
        if (this != &o) {
            reset();
            handle = std::exchange(o.handle, {});
        }
        return *this;
    }
    ~Probe() { reset(); }
    void reset() {
        if (handle) std::exchange(handle, {}).destroy();
    }
    std::coroutine_handle<promise_type> handle;
};

template <class D>
std::unique_ptr<D> make_driver(std::uint32_t entries = 64);

template <>
inline std::unique_ptr<ringbahn::drivers::LocalDriver> make_driver(std::uint32_t entries) {
    return ringbahn::drivers::LocalDriver::create({.entries = entries}).value();
}
template <>
inline std::unique_ptr<ringbahn::drivers::DemoDriver> make_driver(std::uint32_t entries) {
    return ringbahn::drivers::DemoDriver::create({.entries = entries}).value();
}

// Submits one event on d and gives back its output (OutputOf<E>: usually the event and its result).
template <class D, class E>
ringbahn::Task<ringbahn::OutputOf<E>> completed(D& d, E e) {
    co_return co_await ringbahn::submit(d, std::move(e));
}
} // namespace test
