// SPDX-License-Identifier: MIT
// File descriptors for tests: owned fds, pipes, socket pairs, a loopback TCP listener, unlinked
// temp files, and counts of open fds and of bytes waiting on one.
module;
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <utility>

export module ringbahn.test_support:fds;

export namespace test {

// Bytes waiting to be read on a socket or pipe (what no op took).
inline int readable(int fd) {
    int n = 0;
    ::ioctl(fd, FIONREAD, &n);
    return n;
}

// Open fds of this process.
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

} // namespace test
