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
import :drive.drive;
import :protocol.error;
import :events.accept;
import :events.connect;
import :events.multishot;
import :io.owned_fd;
import :io.socket_address;
import :await.multishot_stream;
import :await.submission;
import :tasks.task;

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
    // The address this end is bound to, and the peer's.
    [[nodiscard]] Result<SocketAddress> local_address() const { return io::local_address(native_handle()); }
    [[nodiscard]] Result<SocketAddress> peer_address() const { return io::peer_address(native_handle()); }
    // shutdown(2) of the write side: the peer reads end of file.
    Result<void> shutdown_write() noexcept {
        if (::shutdown(native_handle(), SHUT_WR) != 0) return std::unexpected(errno_code(errno));
        return {};
    }

    [[nodiscard]] inline int native_handle() const noexcept { return fd_.native_handle(); }
    [[nodiscard]] int release() noexcept { return fd_.release(); }

  private:
    OwnedFd fd_;
};
static_assert(IoObject<TcpStream>);

// A listening socket. Two ways to use it:
//   auto l = io::TcpListener::bind(driver, at);   // On<D>: carries its driver
//   auto c = co_await l->accept();
// or, to share one listener between drivers (e.g. one per thread), the plain listener and a
// driver per call: `TcpListener::bind(at)`, `co_await listener.accept(driver)`.
export class TcpListener {
  public:
    template <Drive D>
    class On;

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
    // The same, bound to `driver`: its accept() and incoming() need no driver argument.
    template <Drive D>
    [[nodiscard]] static Result<On<D>> bind(D& driver, const SocketAddress& at, int backlog = 1024,
                                            bool reuse_port = false) {
        auto l = bind(at, backlog, reuse_port);
        if (!l) return std::unexpected(l.error());
        return On<D>(driver, std::move(*l));
    }

    // One connection, accepted through the ring; a cancelled accept closes what it got.
    template <Drive D>
    Task<Result<TcpStream>> accept(D& driver) {
        auto fd = co_await submit(driver, events::Accept{fd_.native_handle()});
        if (!fd) co_return std::unexpected(fd.error());
        co_return TcpStream(std::move(*fd));
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
        MultishotStream<events::AcceptMultishot, D> stream_;
    };
    template <Drive D>
    [[nodiscard]] Incoming<D> incoming(D& driver) {
        return Incoming<D>(driver, fd_.native_handle());
    }

    // The bound address (with the port the kernel chose for port 0).
    [[nodiscard]] Result<SocketAddress> local_address() const { return io::local_address(native_handle()); }
    [[nodiscard]] inline int native_handle() const noexcept { return fd_.native_handle(); }

  private:
    explicit TcpListener(OwnedFd fd) noexcept : fd_(std::move(fd)) {}
    OwnedFd fd_;
};

// A TcpListener bound to one driver (exported with its class).
template <Drive D>
class TcpListener::On {
  public:
    On(D& driver, TcpListener listener) noexcept : driver_(&driver), listener_(std::move(listener)) {}

    Task<Result<TcpStream>> accept() { return listener_.accept(*driver_); }
    [[nodiscard]] Incoming<D> incoming() { return listener_.incoming(*driver_); }
    [[nodiscard]] Result<SocketAddress> local_address() const { return listener_.local_address(); }
    [[nodiscard]] int native_handle() const noexcept { return listener_.native_handle(); }
    [[nodiscard]] D& driver() const noexcept { return *driver_; }

  private:
    D* driver_;
    TcpListener listener_;
};

} // namespace ringbahn::io
