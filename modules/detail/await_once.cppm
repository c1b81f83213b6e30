// SPDX-License-Identifier: MIT
// ringbahn:detail.await_once — the awaiter of an op that is awaited once, as an rvalue.
module;
#include <coroutine>
export module ringbahn:detail.await_once;

namespace ringbahn::detail {

// `co_await submit(d, e)` and `co_await std::move(op)` compile; `co_await op` on an lvalue does
// not, so nobody awaits one op twice by mistake (a second await would submit a moved-from
// event, or resume finished branches). Op provides suspend(h) and resume(); this forwards.
export template <class Op>
struct AwaitOnce {
    Op& op;
    [[nodiscard]] bool await_ready() const noexcept { return false; }
    template <class P>
    [[gnu::always_inline]] inline auto await_suspend(std::coroutine_handle<P> h) {
        return op.suspend(h);
    }
    [[gnu::always_inline]] inline decltype(auto) await_resume() noexcept { return op.resume(); }
};

} // namespace ringbahn::detail
