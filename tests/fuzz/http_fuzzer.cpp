// SPDX-License-Identifier: MIT
// libFuzzer target for the HTTP request parser (examples/http_server/http_parser.hpp): parses
// any input as a pipelined stream and checks the invariants the server relies on — progress,
// views inside the buffer, split reads agreeing with whole reads, and safe file names.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "../../examples/http_server/http_parser.hpp"

namespace {
void require(bool ok) {
    if (!ok) std::abort();
}
bool inside(std::string_view part, std::string_view whole) {
    return part.empty() || (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view all(reinterpret_cast<const char*>(data), size);
    std::string_view rest = all;
    while (!rest.empty()) {
        const http::Result r = http::parse(rest);
        if (r.outcome != http::Parse::complete) {
            require(r.outcome == http::Parse::incomplete || (r.status >= 400 && r.status < 600));
            break;
        }
        require(r.request.consumed > 0 && r.request.consumed <= rest.size());
        require(inside(r.request.method, rest) && inside(r.request.target, rest));
        // A prefix of a complete request never parses as a different complete request.
        const http::Result shorter = http::parse(rest.substr(0, r.request.consumed - 1));
        require(shorter.outcome != http::Parse::complete || shorter.request.consumed < r.request.consumed);
        const std::string_view name = http::file_name(r.request.target);
        require(name.find("..") == std::string_view::npos || name.front() != '.');
        require(name.find('/') == std::string_view::npos && (name.empty() || name.front() != '.'));
        rest.remove_prefix(r.request.consumed);
    }
    return 0;
}
