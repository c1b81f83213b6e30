// SPDX-License-Identifier: MIT
// HTTP/1.1 request parsing straight from the read buffer: every field is a view into it, no
// copy. A plain header (no ringbahn in it), shared by the server, its tests and its fuzzer.
#pragma once
#include <cstddef>
#include <string_view>

namespace http {

// What parse() found at the front of the buffer.
enum class Parse {
    complete,   // a whole request: `consumed` bytes of it
    incomplete, // a prefix of one: read more, then parse again from the same start
    error,      // not HTTP we serve: answer `status` and close
};

struct Request {
    std::string_view method, target;
    bool keep_alive = true; // HTTP/1.1 default; "Connection: close" or HTTP/1.0 turn it off
    std::size_t body_length = 0; // Content-Length; the body is skipped (consumed)
    std::size_t consumed = 0;
};

struct Result {
    Parse outcome = Parse::incomplete;
    Request request{};
    int status = 0; // with Parse::error: 400, 413, 431, 501, 505
};

inline constexpr std::size_t max_header_bytes = 8 * 1024; // more → 431
inline constexpr std::size_t max_body_bytes = 64 * 1024;  // more → 413

namespace detail {
inline bool is_token_char(char c) {
    // RFC 9110 tchar
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}
inline bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = char(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = char(y - 'A' + 'a');
        if (x != y) return false;
    }
    return true;
}
inline std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}
inline Result fail(int status) {
    Result r;
    r.outcome = Parse::error;
    r.status = status;
    return r;
}
} // namespace detail

// Parses one request from the front of `buf`. A Content-Length body is skipped (this server
// answers GETs; other methods get 405); Transfer-Encoding is refused with 501.
inline Result parse(std::string_view buf) {
    using namespace detail;
    const std::size_t end = buf.find("\r\n\r\n");
    if (end == std::string_view::npos) {
        if (buf.size() > max_header_bytes) return fail(431);
        return {}; // incomplete
    }
    if (end + 4 > max_header_bytes) return fail(431);
    std::string_view head = buf.substr(0, end);
    Result r;
    r.outcome = Parse::complete;
    r.request.consumed = end + 4;

    // Request line: method SP target SP HTTP/1.x
    const std::size_t line_end = head.find("\r\n");
    std::string_view line = head.substr(0, line_end);
    head = line_end == std::string_view::npos ? std::string_view{} : head.substr(line_end + 2);
    const std::size_t sp1 = line.find(' ');
    if (sp1 == std::string_view::npos || sp1 == 0) return fail(400);
    const std::size_t sp2 = line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || sp2 == sp1 + 1) return fail(400);
    r.request.method = line.substr(0, sp1);
    for (char c : r.request.method)
        if (!is_token_char(c)) return fail(400);
    r.request.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    for (char c : r.request.target)
        if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) return fail(400);
    const std::string_view version = line.substr(sp2 + 1);
    if (version == "HTTP/1.0")
        r.request.keep_alive = false;
    else if (version != "HTTP/1.1")
        return fail(version.starts_with("HTTP/") ? 505 : 400);

    // Header fields: name ":" OWS value OWS
    while (!head.empty()) {
        const std::size_t e = head.find("\r\n");
        const std::string_view field = head.substr(0, e);
        head = e == std::string_view::npos ? std::string_view{} : head.substr(e + 2);
        const std::size_t colon = field.find(':');
        if (colon == std::string_view::npos || colon == 0) return fail(400);
        const std::string_view name = field.substr(0, colon);
        for (char c : name)
            if (!is_token_char(c)) return fail(400); // also refuses "Name :" (obs-fold, smuggling)
        const std::string_view value = trim(field.substr(colon + 1));
        for (char c : value)
            if (c == '\r' || c == '\n' || c == '\0') return fail(400);
        if (iequals(name, "connection")) {
            if (iequals(value, "close")) r.request.keep_alive = false;
            else if (iequals(value, "keep-alive")) r.request.keep_alive = true;
        } else if (iequals(name, "content-length")) {
            if (value.empty()) return fail(400);
            std::size_t length = 0;
            for (char c : value) {
                if (c < '0' || c > '9') return fail(400);
                length = length * 10 + std::size_t(c - '0');
                if (length > max_body_bytes) return fail(413);
            }
            if (r.request.body_length != 0 && r.request.body_length != length) return fail(400);
            r.request.body_length = length;
        } else if (iequals(name, "transfer-encoding")) {
            return fail(501);
        }
    }
    // The body (ignored: nothing here takes one) is part of the request.
    if (buf.size() - r.request.consumed < r.request.body_length) return {}; // incomplete
    r.request.consumed += r.request.body_length;
    return r;
}

// The file name a GET /file/<name> asks for, or empty when the target must be refused: only
// [A-Za-z0-9._-], no leading '.', so no "..", no '/', no absolute path can escape the root.
inline std::string_view file_name(std::string_view target) {
    constexpr std::string_view prefix = "/file/";
    if (!target.starts_with(prefix)) return {};
    const std::string_view name = target.substr(prefix.size());
    if (name.empty() || name.size() > 255 || name.front() == '.') return {};
    for (char c : name) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                        c == '.' || c == '_' || c == '-';
        if (!ok) return {};
    }
    return name;
}

} // namespace http
