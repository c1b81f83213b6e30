// SPDX-License-Identifier: MIT
// Building responses into the connection's output buffer (pipelined responses share one).
#pragma once
#include <dirent.h>

#include <sys/socket.h>

#include <charconv>
#include <string>
#include <string_view>
#include <vector>

namespace http {

inline constexpr std::string_view hello_body = "Hello from ringbahn\n";

inline std::string_view reason(int status) {
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
    }
}

// The output buffer is a byte vector: it moves into the send op and back, never copied.
using Output = std::vector<char>;

inline void put(Output& out, std::string_view s) { out.insert(out.end(), s.begin(), s.end()); }

inline void append_response(Output& out, int status, std::string_view body, std::string_view type,
                            bool keep_alive) {
    char num[24];
    put(out, "HTTP/1.1 ");
    put(out, {num, std::to_chars(num, num + sizeof num, status).ptr});
    put(out, " ");
    put(out, reason(status));
    put(out, "\r\nServer: ringbahn\r\nContent-Type: ");
    put(out, type);
    put(out, "\r\nContent-Length: ");
    put(out, {num, std::to_chars(num, num + sizeof num, body.size()).ptr});
    put(out, keep_alive ? "\r\nConnection: keep-alive\r\n" : "\r\nConnection: close\r\n");
    if (status == 405) put(out, "Allow: GET\r\n");
    put(out, "\r\n");
    put(out, body);
}

inline void append_ok(Output& out, std::string_view body, std::string_view type, bool keep_alive) {
    append_response(out, 200, body, type, keep_alive);
}

inline void append_status(Output& out, int status, bool keep_alive) {
    std::string body(reason(status));
    body += '\n';
    append_response(out, status, body, "text/plain", keep_alive);
}

// Open fds of this process (/proc/self/fd), without the directory's own.
inline int open_fds() {
    int n = 0;
    if (DIR* d = ::opendir("/proc/self/fd")) {
        while (::readdir(d)) ++n;
        ::closedir(d);
    }
    return n - 3;
}

} // namespace http
