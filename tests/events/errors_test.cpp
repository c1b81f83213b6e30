// SPDX-License-Identifier: MIT
// Bad input gives an op an error_code, never a crash: bad fds, EOF, closed pipes and sockets.
#include <catch2/catch_template_test_macros.hpp>
#include <catch2/catch_test_macros.hpp>

#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <optional>
#include <vector>

import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;
using drivers::DemoDriver;
using drivers::LocalDriver;
using Buf = std::vector<std::byte>;

namespace {

template <class D>
Task<void> bad_input(D& d) {
    auto [r, rn] = co_await submit(d, events::Read<>{9999, Buf(8)});
    CHECK(rn.error() == std::errc::bad_file_descriptor);
    CHECK(r.buf.size() == 8); // the buffer comes back with the error
    auto [w, wn] = co_await submit(d, events::Write<>{-1, Buf(8), 0});
    CHECK(wn.error() == std::errc::bad_file_descriptor);
    auto [c, cn] = co_await submit(d, events::Close{9999});
    CHECK(cn.error() == std::errc::bad_file_descriptor);
    auto an = co_await submit(d, events::Accept{9999});
    CHECK(an.error() == std::errc::bad_file_descriptor);
    test::Fd f = test::temp_file();
    auto nan = co_await submit(d, events::Accept{f.get()});
    CHECK(nan.error() == std::errc::not_a_socket);
}

template <class D>
Task<void> end_of_file(D& d) {
    test::Fd f = test::temp_file();
    auto [r, rn] = co_await submit(d, events::Read<>{f.get(), Buf(8), 0});
    CHECK(rn == 0u); // EOF is a value, not an error
    test::Pipe p;
    p.write.reset();
    auto [pr, prn] = co_await submit(d, events::Read<>{p.read.get(), Buf(8)});
    CHECK(prn == 0u);
}

template <class D>
Task<void> closed_peers(D& d) {
    test::Pipe p;
    p.read.reset();
    auto [w, wn] = co_await submit(d, events::Write<>{p.write.get(), Buf(8)});
    CHECK(wn.error() == std::errc::broken_pipe);
    test::SocketPair s;
    s.b.reset();
    auto [sd, sn] = co_await submit(d, events::Send<>{s.a.get(), Buf(8)});
    CHECK(sn.error() == std::errc::broken_pipe);
    // connect to a port nobody listens on
    sockaddr_in addr{};
    {
        test::Listener gone; // bind a port, then close it
        addr = gone.addr;
    }
    test::Fd sock(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    auto [c, cn] = co_await submit(d, events::Connect{sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr});
    CHECK(cn.error() == std::errc::connection_refused);
}

} // namespace

TEMPLATE_TEST_CASE("bad input gives an error_code", "[errors]", LocalDriver, DemoDriver) {
    auto d = test::make_driver<TestType>();
    SECTION("bad fds") { block_on(*d, bad_input(*d)); }
    SECTION("end of file reads 0") { block_on(*d, end_of_file(*d)); }
    SECTION("closed pipes and sockets") { block_on(*d, closed_peers(*d)); }
}
