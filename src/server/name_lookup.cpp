#include "server/name_lookup.h"

#include <spdlog/spdlog.h>

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>

#include "core/await.h"
#include "crypto/crypto.h"
#include "dns/message.h"

namespace culvert {
namespace {

using Clock = std::chrono::steady_clock;

void warn_unanswered(const asio::ip::udp::endpoint& resolver, std::chrono::milliseconds limit) {
  static Clock::time_point last{};
  auto now = Clock::now();
  if (last != Clock::time_point{} && now - last < std::chrono::minutes(1)) return;
  last = now;
  spdlog::warn(
      "dns_resolver {}:{} did not answer within {} ms: names cannot be resolved (check dns_resolver in "
      "config.toml, or leave it empty for the system's resolver)",
      resolver.address().to_string(), resolver.port(), limit.count());
}

}  // namespace

asio::awaitable<Result<std::vector<asio::ip::address>>> lookup_name(asio::ip::udp::endpoint resolver, std::string name,
                                                                    std::chrono::milliseconds limit) {
  using namespace asio::experimental::awaitable_operators;
  auto executor = co_await asio::this_coro::executor;
  asio::ip::udp::socket socket(executor);
  std::error_code ec;
  socket.open(resolver.protocol(), ec);
  if (!ec) socket.connect(resolver, ec);
  if (ec) co_return fail(Errc::dial_failed);
  struct Ask {
    dns::Question question;
    Bytes query;
    bool answered = false;
    std::uint8_t rcode = 0;
  };
  Ask asks[2];
  std::uint16_t types[2] = {dns::kTypeA, dns::kTypeAAAA};
  for (int i = 0; i < 2; ++i) {
    auto id = static_cast<std::uint16_t>(crypto::random_below(65536));
    asks[i].query = dns::make_query(id, name, types[i]);
    auto q = dns::parse_query(asks[i].query);
    if (!q) co_return fail(Errc::dial_failed);
    asks[i].question = *q;
  }
  std::vector<asio::ip::address> out;
  auto started = Clock::now();
  asio::steady_timer timer(executor);
  std::uint8_t buffer[4096];
  for (int round = 0; round < 2; ++round) {
    for (auto& a : asks)
      if (!a.answered) co_await socket.async_send(asio::buffer(a.query), use_tuple);
    timer.expires_at(started + (round == 0 ? limit / 2 : limit));
    while (!(asks[0].answered && asks[1].answered)) {
      auto r = co_await (socket.async_receive(asio::buffer(buffer), use_tuple) || timer.async_wait(use_tuple));
      if (r.index() == 1) break;
      auto [rec, n] = std::get<0>(r);
      if (rec) break;  // e.g. ICMP port unreachable
      ByteSpan message(buffer, n);
      for (auto& a : asks) {
        if (a.answered || n < 2 || ((buffer[0] << 8) | buffer[1]) != a.question.id) continue;
        auto info = dns::parse_response(message, a.question);
        if (!info) continue;
        a.answered = true;
        a.rcode = info->rcode;
        for (const auto& bytes : info->addresses) {
          if (bytes.size() == 4) {
            asio::ip::address_v4::bytes_type b;
            std::copy(bytes.begin(), bytes.end(), b.begin());
            out.emplace_back(asio::ip::address_v4(b));
          } else {
            asio::ip::address_v6::bytes_type b;
            std::copy(bytes.begin(), bytes.end(), b.begin());
            out.emplace_back(asio::ip::address_v6(b));
          }
        }
      }
    }
    if (asks[0].answered && asks[1].answered) break;
  }
  if (!asks[0].answered && !asks[1].answered) {
    warn_unanswered(resolver, limit);
    co_return fail(Errc::timed_out);
  }
  if (out.empty()) co_return fail(Errc::dial_failed);
  co_return out;
}

asio::awaitable<bool> check_resolver(asio::ip::udp::endpoint resolver, std::chrono::milliseconds limit) {
  auto r = co_await lookup_name(resolver, "localhost", limit);
  bool answered = r || r.error() != Errc::timed_out;
  if (answered)
    spdlog::info("dns_resolver {}:{} answers; clients' names are resolved there", resolver.address().to_string(),
                 resolver.port());
  co_return answered;
}

}  // namespace culvert
