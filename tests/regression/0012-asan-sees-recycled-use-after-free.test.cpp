// SPDX-License-Identifier: MIT
// Regression (issue 12, harness): Completions and Task frames come from per-thread free lists,
// so under ASan a stale pointer into a recycled block read a live block and nothing was
// reported — the harness could not see the bugs this issue is about. Under ASan the lists now
// step aside; this proves ASan reports a touch of a freed Completion (in a child process).
#include <catch2/catch_test_macros.hpp>
#include <sys/wait.h>
#include <unistd.h>
#include <coroutine>
#include <cstdlib>
import ringbahn;
import ringbahn.test_support;

TEST_CASE("under asan, reading a freed Completion is reported", "[regression][asan]") {
    if (!test::asan_build) SKIP("an ASan build only (the asan preset)");
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        auto* c = new ringbahn::Completion(std::coroutine_handle<>{}, 1);
        c->discard();                        // freed (to the heap under ASan)
        volatile auto res = c->result();     // use after free: ASan aborts here
        std::_Exit(res == 0x7777 ? 3 : 0);   // reached only if nobody noticed
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    const bool clean_exit = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    CHECK_FALSE(clean_exit);
}
