// Rule matching with a large rule list: 100,000 domain suffixes and 10,000 CIDRs (the size of the
// community China lists), behind a few keyword rules, first match wins. The baseline is the same
// suffix list scanned linearly, in the same run. Run:
//   build/bench/culvert_bench --benchmark_filter=Route
#include <benchmark/benchmark.h>

#include <random>

#include "routing/router.h"

namespace culvert::routing {
namespace {

constexpr int kDomains = 100000;
constexpr int kCidrs = 10000;

std::string listed_domain(int i) { return "site" + std::to_string(i) + ".example" + std::to_string(i % 97) + ".cn"; }

struct Fixture {
  std::vector<std::string> suffixes;
  std::shared_ptr<const Router> router;
  std::vector<std::string> hits, misses;
  std::vector<asio::ip::address> ip_hits, ip_misses;

  Fixture() {
    Rule keywords;
    keywords.keywords = {"doubleclick", "adservice", "tracker"};
    keywords.action = Action::block();
    Rule domains;
    for (int i = 0; i < kDomains; ++i) domains.suffixes.push_back(listed_domain(i));
    suffixes = domains.suffixes;
    domains.action = Action::direct();
    Rule networks;
    for (int i = 0; i < kCidrs; ++i) {
      // /16 to /24 networks spread over 1.0.0.0 - 60.255.255.0
      unsigned prefix = 16 + static_cast<unsigned>(i % 9);
      std::uint32_t base = (1u << 24) + static_cast<std::uint32_t>(i) * 99991u * 256u % (60u << 24);
      auto address = asio::ip::address_v4(base & (0xFFFFFFFFu << (32 - prefix)));
      networks.cidrs.push_back(*parse_cidr(address.to_string() + "/" + std::to_string(prefix)));
    }
    networks.action = Action::direct();
    std::string message;
    router = *Router::build({keywords, domains, networks}, Action::proxy("abroad"), nullptr, message);
    std::mt19937 random(7);
    for (int i = 0; i < 1024; ++i) {
      hits.push_back("www.cdn" + std::to_string(i) + "." + listed_domain(static_cast<int>(random() % kDomains)));
      misses.push_back("www.page" + std::to_string(i) + ".example" + std::to_string(i) + ".org");
      auto cidr = networks.cidrs[random() % networks.cidrs.size()];
      ip_hits.push_back(asio::ip::address_v4(cidr.network.to_v4().to_uint() + 1));
      ip_misses.push_back(asio::ip::address_v4((200u << 24) + static_cast<std::uint32_t>(random() % (1 << 24))));
    }
  }
};

const Fixture& fixture() {
  static Fixture f;
  return f;
}

void route_names(benchmark::State& state, const std::vector<std::string>& names, Action::Kind expected) {
  const auto& f = fixture();
  std::size_t i = 0;
  for (auto _ : state) {
    Query q;
    q.domain = names[i++ & 1023];
    q.port = 443;
    const auto& action = f.router->route(q);
    if (action.kind != expected) state.SkipWithError("wrong action");
    benchmark::DoNotOptimize(action);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_RouteDomainListed(benchmark::State& state) { route_names(state, fixture().hits, Action::Kind::direct); }
BENCHMARK(BM_RouteDomainListed);

void BM_RouteDomainNotListed(benchmark::State& state) { route_names(state, fixture().misses, Action::Kind::proxy); }
BENCHMARK(BM_RouteDomainNotListed);

void route_addresses(benchmark::State& state, const std::vector<asio::ip::address>& addresses, Action::Kind expected) {
  const auto& f = fixture();
  std::size_t i = 0;
  for (auto _ : state) {
    Query q;
    q.address = addresses[i++ & 1023];
    q.port = 443;
    const auto& action = f.router->route(q);
    if (action.kind != expected) state.SkipWithError("wrong action");
    benchmark::DoNotOptimize(action);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_RouteAddressListed(benchmark::State& state) { route_addresses(state, fixture().ip_hits, Action::Kind::direct); }
BENCHMARK(BM_RouteAddressListed);

void BM_RouteAddressNotListed(benchmark::State& state) {
  route_addresses(state, fixture().ip_misses, Action::Kind::proxy);
}
BENCHMARK(BM_RouteAddressNotListed);

// Baseline: the same 100,000 suffixes tested one by one (what a naive rule list does per request).
void BM_RouteDomainLinearScanBaseline(benchmark::State& state) {
  const auto& f = fixture();
  std::size_t i = 0;
  for (auto _ : state) {
    std::string_view name = f.misses[i++ & 1023];
    bool matched = false;
    for (const auto& suffix : f.suffixes) {
      if (name.size() >= suffix.size() && name.ends_with(suffix) &&
          (name.size() == suffix.size() || name[name.size() - suffix.size() - 1] == '.')) {
        matched = true;
        break;
      }
    }
    benchmark::DoNotOptimize(matched);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RouteDomainLinearScanBaseline);

void BM_RouterBuild100kDomains(benchmark::State& state) {
  const auto& f = fixture();
  for (auto _ : state) {
    Rule domains;
    domains.suffixes = f.suffixes;
    domains.action = Action::direct();
    std::string message;
    benchmark::DoNotOptimize(Router::build({domains}, Action::proxy("abroad"), nullptr, message));
  }
}
BENCHMARK(BM_RouterBuild100kDomains)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace culvert::routing
