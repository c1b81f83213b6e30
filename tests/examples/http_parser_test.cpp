// SPDX-License-Identifier: MIT
// The HTTP server example's request parser: split reads, pipelining, malformed and oversize
// requests, path escapes — each gives the right status, never a crash (run under asan too).
#include <catch2/catch_test_macros.hpp>

#include <string>
#include <string_view>

#include "../../examples/http_server/http_parser.hpp"

using http::Parse;

TEST_CASE("http parser: a request split across reads is incomplete until its last byte") {
    const std::string req = "GET /file/a.txt HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n";
    for (std::size_t cut = 0; cut < req.size(); ++cut)
        CHECK(http::parse(std::string_view(req).substr(0, cut)).outcome == Parse::incomplete);
    const auto r = http::parse(req);
    REQUIRE(r.outcome == Parse::complete);
    CHECK(r.request.method == "GET");
    CHECK(r.request.target == "/file/a.txt");
    CHECK(r.request.keep_alive);
    CHECK(r.request.consumed == req.size());
}

TEST_CASE("http parser: pipelined requests come out one at a time, in order, in place") {
    const std::string batch = "GET / HTTP/1.1\r\n\r\nGET /file/b HTTP/1.1\r\nConnection: close\r\n\r\nGET /x HT";
    std::string_view rest = batch;
    auto a = http::parse(rest);
    REQUIRE(a.outcome == Parse::complete);
    CHECK(a.request.target == "/");
    CHECK(a.request.target.data() >= batch.data()); // a view into the buffer, not a copy
    rest.remove_prefix(a.request.consumed);
    auto b = http::parse(rest);
    REQUIRE(b.outcome == Parse::complete);
    CHECK(b.request.target == "/file/b");
    CHECK(!b.request.keep_alive);
    rest.remove_prefix(b.request.consumed);
    CHECK(http::parse(rest).outcome == Parse::incomplete);
}

TEST_CASE("http parser: bodies are skipped, versions and keep-alive") {
    auto post = http::parse("POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET");
    REQUIRE(post.outcome == Parse::complete);
    CHECK(post.request.method == "POST");
    CHECK(post.request.consumed == std::string_view("POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc").size());
    CHECK(http::parse("POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nab").outcome == Parse::incomplete);
    CHECK(!http::parse("GET / HTTP/1.0\r\n\r\n").request.keep_alive);
    CHECK(http::parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").request.keep_alive);
}

TEST_CASE("http parser: malformed and unsupported requests get their status") {
    struct Case {
        std::string_view text;
        int status;
    };
    const Case cases[] = {
        {"BROKEN\r\n\r\n", 400},
        {" / HTTP/1.1\r\n\r\n", 400},
        {"GET  HTTP/1.1\r\n\r\n", 400},
        {"G(T / HTTP/1.1\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\n: empty name\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost : space before colon\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", 413},
        {"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 501},
        {"GET / HTTP/2.0\r\n\r\n", 505},
        {"GET / FTP/1.1\r\n\r\n", 400},
        {std::string_view("GET /\0 HTTP/1.1\r\n\r\n", 20), 400},
    };
    for (const auto& c : cases) {
        INFO(c.text);
        const auto r = http::parse(c.text);
        CHECK(r.outcome == Parse::error);
        CHECK(r.status == c.status);
    }
}

TEST_CASE("http parser: headers over 8 KiB are 431, complete or not") {
    const std::string big(9000, 'a');
    CHECK(http::parse("GET / HTTP/1.1\r\nX: " + big + "\r\n\r\n").status == 431);
    CHECK(http::parse("GET / HTTP/1.1\r\nX: " + big).status == 431); // no end in sight
    const std::string fits(7000, 'a');
    CHECK(http::parse("GET / HTTP/1.1\r\nX: " + fits + "\r\n\r\n").outcome == Parse::complete);
}

TEST_CASE("http parser: file names cannot escape the root") {
    CHECK(http::file_name("/file/a.txt") == "a.txt");
    CHECK(http::file_name("/file/index-2_b.html") == "index-2_b.html");
    for (std::string_view bad : {"/file/../etc/passwd", "/file/..", "/file/.hidden", "/file//etc/passwd",
                                 "/file/a/b", "/file/", "/etc/passwd", "/file/%2e%2e", "/file/a\\b", "/files/a"})
        CHECK(http::file_name(bad).empty());
}
