// The completion token every coroutine in Culvert awaits with: results come back as a tuple
// (error_code first) instead of exceptions, so network failures are values (docs/architecture.md).
// Asio 1.22 (Debian 12) keeps as_tuple under asio::experimental.
#pragma once

#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>

namespace culvert {

inline constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

}  // namespace culvert
