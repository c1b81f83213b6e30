// SPDX-License-Identifier: MIT
// ringbahn:io.tcp — TcpListener (bind, listen, accept through the ring) and TcpStream
// (connect through the ring), IPv4 and IPv6.
module;
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <cerrno>
#include <expected>
#include <utility>
export module ringbahn:io.tcp;
import :drive;
import :error;
import :events.accept;
import :events.connect;
import :events.multishot;
import :io.owned_fd;
import :io.socket_address;
import :stream;
import :submission;
import :task;

namespace ringbahn::io {

export class TcpStream {
  public:
    static constexpr bool seekable = false;
    explicit TcpStream(OwnedFd fd) noexcept : fd_(std::move(fd)) {}

    // A new socket connected to `to` through the ring.
    template <Drive D>
    static Task<Result<TcpStream>> connect(D& driver, SocketAddress to) {
        OwnedFd fd(::socket(to.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
        if (!fd.is_open()) co_return std::unexpected(errno_code(errno));
        auto [c, r] = co_await submit(driver, events::Connect{fd.native_handle(), to.data(), to.size()});
        if (!r) co_return std::unexpected(r.error());
        co_return TcpStream(std::move(fd));
    }

    // Disables Nagle's algorithm (small request/response traffic).
    Result<void> set_nodelay(bool on = true) noexcept {
        const int v = on;
        if (::setsockopt(native_handle(), IPPROTO_TCP, TCP_NODELAY, &v, sizeof v) != 0)
            return std::unexpected(errno_code(errno));
        return {};
    }
    // shutdown(2) of the write side: the peer reads end of file.
    Result<void> shutdown_write() noexcept {
        if (::shutdown(native_handle(), SHUT_WR) != 0) return std::unexpected(errno_code(errno));
        return {};
    }

    [[nodiscard]] int native_handle() const noexcept { return fd_.native_handle(); }
    [[nodiscard]] int release() noexcept { return fd_.release(); }

  private:
    OwnedFd fd_;
};
static_assert(IoObject<TcpStream>);

export class TcpListener {
  public:
    // socket + SO_REUSEADDR + bind + listen: synchronous and cheap, so plain syscalls.
    [[nodiscard]] static Result<TcpListener> bind(const SocketAddress& at, int backlog = 1024,
                                                  bool reuse_port = false) {
        OwnedFd fd(::socket(at.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
        if (!fd.is_open()) return std::unexpected(errno_code(errno));
        const int one = 1;
        ::setsockopt(fd.native_handle(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (reuse_port &&
            ::setsockopt(fd.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
            return std::unexpected(errno_code(errno));
        if (::bind(fd.native_handle(), at.data(), at.size()) != 0 ||
            ::listen(fd.native_handle(), backlog) != 0)
            return std::unexpected(errno_code(errno));
        return TcpListener(std::move(fd));
    }

    // One connection, accepted through the ring; a cancelled accept closes what it got.
    template <Drive D>
    Task<Result<TcpStream>> accept(D& driver) {
        auto [a, r] = co_await submit(driver, events::Accept{fd_.native_handle()});
        if (!r) co_return std::unexpected(r.error());
        co_return TcpStream(OwnedFd(static_cast<int>(*r)));
    }

    // The connections as they come, from one multishot accept:
    //   auto incoming = listener.incoming(driver);
    //   while (auto conn = co_await incoming.next()) { ... }
    // Destroying `incoming` cancels the accept; connections it got meanwhile are closed.
    template <Drive D>
    class Incoming {
      public:
        Incoming(D& driver, int fd) : stream_(driver, events::AcceptMultishot{fd}) {}
        Task<Result<TcpStream>> next() {
            auto fd = co_await stream_.next();
            if (!fd) co_return std::unexpected(fd.error());
            co_return TcpStream(std::move(*fd));
        }

      private:
        Stream<events::AcceptMultishot, D> stream_;
    };
    template <Drive D>
    [[nodiscard]] Incoming<D> incoming(D& driver) {
        return Incoming<D>(driver, fd_.native_handle());
    }

    // The bound address (with the port the kernel chose for port 0).
    [[nodiscard]] Result<SocketAddress> local_address() const {
        ::sockaddr_storage ss{};
        ::socklen_t len = sizeof ss;
        if (::getsockname(fd_.native_handle(), reinterpret_cast<::sockaddr*>(&ss), &len) != 0)
            return std::unexpected(errno_code(errno));
        return SocketAddress::from(reinterpret_cast<::sockaddr*>(&ss), len);
    }
    [[nodiscard]] int native_handle() const noexcept { return fd_.native_handle(); }

  private:
    explicit TcpListener(OwnedFd fd) noexcept : fd_(std::move(fd)) {}
    OwnedFd fd_;
};

} // namespace ringbahn::io
