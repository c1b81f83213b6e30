// SPDX-License-Identifier: MIT
// A root coroutine started at once and destroyed by hand: how these tests destroy a waiting
// coroutine at a moment of their choosing.
#pragma once
#include <coroutine>
#include <exception>

namespace test_runtime {
struct Root {
    struct promise_type {
        Root get_return_object() { return {std::coroutine_handle<promise_type>::from_promise(*this)}; }
        std::suspend_never initial_suspend() noexcept { return {}; }
        std::suspend_always final_suspend() noexcept { return {}; }
        void return_void() noexcept {}
        void unhandled_exception() noexcept { std::terminate(); }
    };
    std::coroutine_handle<promise_type> h;
};
} // namespace test_runtime
