// SPDX-License-Identifier: MIT
// A CQE result becomes a value or a system error_code.
#include <catch2/catch_test_macros.hpp>

#include <liburing.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

import ringbahn;
import ringbahn.test_support;

using namespace ringbahn;

TEST_CASE("a CQE result becomes a value or a system error_code", "[errors]") {
    CHECK(cqe_result(12).value() == 12u);
    CHECK(cqe_result(-EBADF).error() == std::errc::bad_file_descriptor);
    CHECK(cqe_result(-EBADF).error().category() == std::system_category());
}
