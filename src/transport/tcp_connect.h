// The TCP part of every transport's dial: resolve the server's name and connect, with a deadline
// and a reason in words when it fails ("cannot resolve its name (...)", "connecting timed out").
// Thread model: the caller's executor.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <chrono>
#include <string>

#include "core/result.h"

namespace culvert {

// Errc::timed_out or Errc::dial_failed, with `why` set.
asio::awaitable<Result<asio::ip::tcp::socket>> connect_to_server(const std::string& host, std::uint16_t port,
                                                                 std::chrono::steady_clock::time_point deadline,
                                                                 std::string& why);

}  // namespace culvert
