// SPDX-License-Identifier: MIT
// ringbahn:io.socket_address — an IPv4 or IPv6 address and port.
module;
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cerrno>
#include <cstdint>
#include <expected>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
export module ringbahn:io.socket_address;
import :protocol.error;

namespace ringbahn::io {

export class SocketAddress {
  public:
    SocketAddress() = default;

    // "127.0.0.1:8080", "[::1]:8080"; nullopt if it is neither.
    [[nodiscard]] static std::optional<SocketAddress> parse(std::string_view text) {
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos) return std::nullopt;
        std::string host(text.substr(0, colon));
        unsigned port = 0;
        for (char c : text.substr(colon + 1)) {
            if (c < '0' || c > '9' || (port = port * 10 + unsigned(c - '0')) > 65535)
                return std::nullopt;
        }
        if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
            return v6(host.substr(1, host.size() - 2), static_cast<std::uint16_t>(port));
        return v4(host, static_cast<std::uint16_t>(port));
    }
    [[nodiscard]] static std::optional<SocketAddress> v4(const std::string& host,
                                                         std::uint16_t port) {
        SocketAddress a;
        auto* in = reinterpret_cast<::sockaddr_in*>(&a.storage_);
        in->sin_family = AF_INET;
        in->sin_port = htons(port);
        if (::inet_pton(AF_INET, host.c_str(), &in->sin_addr) != 1) return std::nullopt;
        a.len_ = sizeof(::sockaddr_in);
        return a;
    }
    [[nodiscard]] static std::optional<SocketAddress> v6(const std::string& host,
                                                         std::uint16_t port) {
        SocketAddress a;
        auto* in6 = reinterpret_cast<::sockaddr_in6*>(&a.storage_);
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        if (::inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) != 1) return std::nullopt;
        a.len_ = sizeof(::sockaddr_in6);
        return a;
    }
    [[nodiscard]] static SocketAddress from(const ::sockaddr* sa, ::socklen_t len) {
        SocketAddress a;
        a.len_ = len > sizeof a.storage_ ? sizeof a.storage_ : len;
        std::memcpy(&a.storage_, sa, a.len_);
        return a;
    }

    [[nodiscard]] int family() const noexcept { return storage_.ss_family; }
    [[nodiscard]] std::uint16_t port() const noexcept {
        return family() == AF_INET6
                   ? ntohs(reinterpret_cast<const ::sockaddr_in6*>(&storage_)->sin6_port)
                   : ntohs(reinterpret_cast<const ::sockaddr_in*>(&storage_)->sin_port);
    }
    [[nodiscard]] const ::sockaddr* data() const noexcept {
        return reinterpret_cast<const ::sockaddr*>(&storage_);
    }
    [[nodiscard]] ::socklen_t size() const noexcept { return len_; }

  private:
    ::sockaddr_storage storage_{};
    ::socklen_t len_ = 0;
};

// A socket's address as getsockname(2) or getpeername(2) reports it.
inline Result<SocketAddress> socket_address_by(int (*query)(int, ::sockaddr*, ::socklen_t*), int fd) {
    ::sockaddr_storage ss{};
    ::socklen_t len = sizeof ss;
    if (query(fd, reinterpret_cast<::sockaddr*>(&ss), &len) != 0) return std::unexpected(errno_code(errno));
    return SocketAddress::from(reinterpret_cast<::sockaddr*>(&ss), len);
}

// A socket's own address — with the port the kernel chose for port 0.
export [[nodiscard]] inline Result<SocketAddress> local_address(int fd) {
    return socket_address_by(::getsockname, fd);
}
// The address of a connected socket's peer.
export [[nodiscard]] inline Result<SocketAddress> peer_address(int fd) {
    return socket_address_by(::getpeername, fd);
}

} // namespace ringbahn::io
