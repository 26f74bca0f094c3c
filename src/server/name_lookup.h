// Name lookups at the server's configured resolver (`dns_resolver`), so that the names clients'
// streams ask for are resolved where their DNS datagrams are: A and AAAA questions over UDP, both
// at once, each asked again once if the first try goes unanswered.
// Thread model: the calling coroutine's executor.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/ip/address.hpp>
#include <asio/ip/udp.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "core/result.h"

namespace culvert {

// The addresses of `name`. Errors: Errc::timed_out (the resolver did not answer within `limit`;
// logged as a warning, at most once a minute), Errc::dial_failed (no such name, no address).
asio::awaitable<Result<std::vector<asio::ip::address>>> lookup_name(asio::ip::udp::endpoint resolver, std::string name,
                                                                    std::chrono::milliseconds limit);

// Whether `resolver` answers at all (a question for "." within `limit`); logs the result, a
// warning when it does not. For start and reload, so a dead resolver is named at once.
asio::awaitable<bool> check_resolver(asio::ip::udp::endpoint resolver, std::chrono::milliseconds limit);

}  // namespace culvert
