#include "core/dialer.h"

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include "core/await.h"

#include "core/address_policy.h"

namespace culvert {

asio::awaitable<Result<asio::ip::tcp::socket>> dial(const Destination& destination, const DialOptions& options) {
  using namespace asio::experimental::awaitable_operators;
  auto executor = co_await asio::this_coro::executor;
  std::vector<asio::ip::tcp::endpoint> v4, v6;
  if (destination.kind == Destination::Kind::domain && options.resolve) {
    auto addresses = co_await options.resolve(destination.host);
    if (!addresses) co_return fail(addresses.error());
    for (const auto& a : *addresses) (a.is_v6() ? v6 : v4).emplace_back(a, destination.port);
    if (v4.empty() && v6.empty()) co_return fail(Errc::dial_failed);
  } else if (destination.kind == Destination::Kind::domain) {
    asio::ip::tcp::resolver resolver(executor);
    asio::steady_timer deadline(executor);
    deadline.expires_after(options.connect_timeout);
    auto result = co_await (resolver.async_resolve(destination.host, std::to_string(destination.port), use_tuple) ||
                            deadline.async_wait(use_tuple));
    if (result.index() == 1) co_return fail(Errc::timed_out);
    auto [ec, results] = std::get<0>(result);
    if (ec) co_return fail(Errc::dial_failed);
    for (const auto& entry : results) (entry.endpoint().address().is_v6() ? v6 : v4).push_back(entry.endpoint());
  } else {
    std::error_code ec;
    auto address = asio::ip::make_address(destination.host, ec);
    if (ec) co_return fail(Errc::dial_failed);
    (address.is_v6() ? v6 : v4).emplace_back(address, destination.port);
  }
  std::vector<asio::ip::tcp::endpoint> order;
  for (std::size_t i = 0; i < std::max(v4.size(), v6.size()); ++i) {
    if (i < v6.size()) order.push_back(v6[i]);
    if (i < v4.size()) order.push_back(v4[i]);
  }
  bool any_allowed = false;
  auto started = std::chrono::steady_clock::now();
  for (const auto& endpoint : order) {
    if (is_forbidden_destination(endpoint.address(), options.allow_private)) continue;
    any_allowed = true;
    auto left = options.connect_timeout - (std::chrono::steady_clock::now() - started);
    if (left <= std::chrono::milliseconds(0)) co_return fail(Errc::timed_out);
    asio::ip::tcp::socket socket(executor);
    asio::steady_timer deadline(executor);
    deadline.expires_after(left);
    auto result = co_await (socket.async_connect(endpoint, use_tuple) || deadline.async_wait(use_tuple));
    if (result.index() == 1) co_return fail(Errc::timed_out);
    auto [ec] = std::get<0>(result);
    if (!ec) {
      socket.set_option(asio::ip::tcp::no_delay(true), ec);
      co_return std::move(socket);
    }
  }
  co_return fail(any_allowed ? Errc::dial_failed : Errc::destination_refused);
}

}  // namespace culvert
