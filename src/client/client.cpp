#include "client/client.h"

#include <spdlog/spdlog.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/steady_timer.hpp>

#include "client/udp_associate.h"
#include "core/await.h"
#include "core/tcp_stream.h"
#include "routing/pac.h"
#include "routing/profiles.h"

namespace culvert {

Client::Client(asio::io_context& io, ClientConfig config, ClientOptions options)
    : io_(io), config_(std::move(config)), options_(options), acceptor_(io) {
  options_.pool.padding = config_.padding ? options_.pool.padding : mux::PaddingPolicy::off();
  options_.pool.max_tunnels = config_.max_tunnels;
  options_.pool.streams_per_tunnel = config_.streams_per_tunnel;
  outbounds_ = std::make_unique<Outbounds>(io.get_executor(), config_, options_.pool);
}

Client::~Client() = default;

std::optional<asio::ip::udp::endpoint> Client::dns_endpoint() const {
  if (!dns_) return std::nullopt;
  return dns_->local_endpoint();
}

Result<void> Client::start(std::string& message) {
  std::shared_ptr<routing::GeoIp> geoip;
  if (!config_.geoip.empty()) {
    auto opened = routing::GeoIp::open(config_.geoip, message);
    if (!opened) return fail(opened.error());
    geoip = *opened;
  }
  auto rules = config_.rules;
  if (config_.profile != "none") {
    auto profile = routing::profile_rules(config_.profile, geoip != nullptr);
    rules.insert(rules.end(), profile->begin(), profile->end());
  }
  routing::Action final_action = config_.final_outbound == "direct"  ? routing::Action::direct()
                                 : config_.final_outbound == "block" ? routing::Action::block()
                                                                     : routing::Action::proxy(config_.final_outbound);
  std::size_t rule_count = rules.size();
  if (auto listening = listen_on(acceptor_, config_.listen, message); !listening) return listening;
  auto local = acceptor_.local_endpoint();
  std::string proxy_address =
      (local.address().is_v6() ? "[" + local.address().to_string() + "]" : local.address().to_string()) + ":" +
      std::to_string(local.port());
  auto pac = std::make_shared<const std::string>(routing::generate_pac(rules, final_action, proxy_address));
  auto router = routing::Router::build(std::move(rules), final_action, geoip, message);
  if (!router) return fail(router.error());
  if (config_.dns.fake_ip)
    fake_ip_ = std::make_unique<dns::FakeIpPool>(*routing::parse_cidr(config_.dns.fake_ip_range));
  dispatcher_ = std::make_unique<Dispatcher>(*router, *outbounds_, fake_ip_.get(), options_.pool.connect_timeout);

  handlers_ = std::make_shared<InboundHandlers>();
  handlers_->prepare = [this](const Destination& d, std::string_view inbound) {
    return dispatcher_->prepare(d, inbound);
  };
  handlers_->associate = [this](TcpStream& control) -> asio::awaitable<void> {
    auto counters = co_await run_udp_association(control, *dispatcher_, options_.udp_idle_timeout);
    spdlog::debug("udp association ended from_app={} to_app={} dropped={}", counters.from_app, counters.to_app,
                  counters.dropped);
  };
  handlers_->pac = pac;

  if (!config_.dns.listen.empty()) {
    dns_ = std::make_unique<DnsServer>(io_.get_executor(), *dispatcher_, config_.dns);
    if (auto started = dns_->start(message); !started) return started;
  }
  for (const auto& group : config_.groups) {
    if (group.subscription.empty()) continue;
    subscriptions_.push_back(std::make_unique<SubscriptionUpdater>(io_.get_executor(), group, *outbounds_));
  }
  outbounds_->on_group_down = [this](const std::string& group) {
    for (std::size_t i = 0, s = 0; i < config_.groups.size(); ++i) {
      if (config_.groups[i].subscription.empty()) continue;
      if (config_.groups[i].name == group) subscriptions_[s]->wake();
      ++s;
    }
  };
  for (auto& updater : subscriptions_) updater->start(acceptor_.local_endpoint());
  outbounds_->start();
  asio::co_spawn(io_, accept_loop(), asio::detached);
  spdlog::info("{} servers, {} groups ({} from subscriptions), {} rules (profile {}), final {}{}",
               config_.servers.size(), config_.groups.size(), subscriptions_.size(), rule_count, config_.profile,
               config_.final_outbound, geoip ? ", GeoIP on" : "");
  return {};
}

void Client::stop() {
  stopping_ = true;
  std::error_code ignored;
  acceptor_.close(ignored);
  if (dns_) dns_->stop();
  for (auto& updater : subscriptions_) updater->stop();
  outbounds_->stop();
}

asio::awaitable<void> Client::accept_loop() {
  asio::steady_timer backoff(io_);
  while (!stopping_) {
    auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
    if (stopping_) co_return;
    if (ec) {
      spdlog::warn("accept failed: {}", ec.message());
      backoff.expires_after(std::chrono::milliseconds(100));
      co_await backoff.async_wait(use_tuple);
      continue;
    }
    asio::co_spawn(io_, serve_inbound(std::move(socket), handlers_, options_.inbound), asio::detached);
  }
}

}  // namespace culvert
