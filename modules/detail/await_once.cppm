// SPDX-License-Identifier: MIT
// ringbahn:detail.await_once — the awaiter of an op that is awaited once, as an rvalue, and
// what awaiting it a second time gives.
module;
#include <coroutine>
#include <expected>
#include <system_error>
#include <type_traits>
#include <variant>
export module ringbahn:detail.await_once;

namespace ringbahn::detail {

// `co_await submit(d, e)` and `co_await std::move(op)` compile; `co_await op` on an lvalue does
// not, so nobody awaits one op twice by mistake. Awaiting it again on purpose — after it
// finished, while it is still suspended elsewhere, or after it was moved from — is refused: the
// op is *spent*, that await is ready at once with the op's spent value (EINVAL: see
// spent_value), and nothing of the first await is touched. Op provides spent(), suspend(h),
// resume() and spent_value().
export template <class Op>
struct AwaitOnce {
    Op& op;
    bool refused = false;
    [[nodiscard, gnu::always_inline]] inline bool await_ready() noexcept {
        refused = op.spent();
        return refused;
    }
    template <class P>
    [[gnu::always_inline]] inline auto await_suspend(std::coroutine_handle<P> h) {
        return op.suspend(h);
    }
    [[gnu::always_inline]] inline decltype(auto) await_resume() {
        if (refused) [[unlikely]]
            return op.spent_value();
        return op.resume();
    }
};

// The value a spent awaitable gives: EINVAL where its type holds an error (a Result, a Ring
// read's span), nothing for std::monostate, else a std::system_error with EINVAL — a type that
// cannot say "no value" has no other way to.
export template <class T>
[[nodiscard]] T spent_value() {
    const auto err = std::make_error_code(std::errc::invalid_argument);
    if constexpr (std::is_constructible_v<T, std::unexpected<std::error_code>>)
        return T(std::unexpected(err));
    else if constexpr (std::is_same_v<T, std::monostate>)
        return T{};
    else
        throw std::system_error(err, "ringbahn: awaited twice, or after it was moved from");
}

} // namespace ringbahn::detail
