#include "routing/router.h"

#include <algorithm>
#include "core/ip_address.h"

namespace culvert::routing {
namespace {

void add_to(std::vector<std::uint32_t>& rules, std::uint32_t index) {
  if (rules.empty() || rules.back() != index) rules.push_back(index);
}

}  // namespace

Router::NetworkKey Router::masked_key(const asio::ip::address& address, unsigned prefix) {
  NetworkKey key;
  if (address.is_v4()) {
    std::uint64_t value = address.to_v4().to_uint();
    key.low = prefix == 0 ? 0 : value & (0xFFFFFFFFULL << (32 - prefix));
    return key;
  }
  auto bytes = address.to_v6().to_bytes();
  for (int i = 0; i < 8; ++i) key.high = key.high << 8 | bytes[i];
  for (int i = 8; i < 16; ++i) key.low = key.low << 8 | bytes[i];
  if (prefix <= 64) {
    key.high = prefix == 0 ? 0 : key.high & (~0ULL << (64 - prefix));
    key.low = 0;
  } else {
    key.low = prefix == 128 ? key.low : key.low & (~0ULL << (128 - prefix));
  }
  return key;
}

Result<std::shared_ptr<const Router>> Router::build(std::vector<Rule> rules, Action final_action,
                                                    std::shared_ptr<GeoIp> geoip, std::string& message) {
  auto router = std::shared_ptr<Router>(new Router());
  router->final_ = std::move(final_action);
  router->geoip_ = std::move(geoip);
  router->compiled_.resize(rules.size());
  for (std::uint32_t i = 0; i < rules.size(); ++i) {
    auto& rule = rules[i];
    auto& compiled = router->compiled_[i];
    for (const auto& pattern : rule.regexes) {
      try {
        compiled.regexes.emplace_back(pattern, std::regex::ECMAScript | std::regex::optimize);
      } catch (const std::regex_error& e) {
        message = "rule " + std::to_string(i + 1) + ": bad regex \"" + pattern + "\": " + e.what();
        return fail(Errc::malformed);
      }
    }
    if (!rule.countries.empty() && !router->geoip_) {
      message = "rule " + std::to_string(i + 1) + " matches GeoIP countries but no GeoIP database is configured";
      return fail(Errc::malformed);
    }
    for (auto& name : rule.domains) add_to(router->exact_[name], i);
    for (auto& name : rule.suffixes) add_to(router->suffix_[name], i);
    for (const auto& cidr : rule.cidrs) {
      bool v6 = cidr.network.is_v6();
      auto table = std::find_if(router->cidr_tables_.begin(), router->cidr_tables_.end(),
                                [&](const CidrTable& t) { return t.prefix == cidr.prefix && t.v6 == v6; });
      if (table == router->cidr_tables_.end()) {
        router->cidr_tables_.push_back({cidr.prefix, v6, {}});
        table = std::prev(router->cidr_tables_.end());
      }
      add_to(table->networks[masked_key(cidr.network, cidr.prefix)], i);
    }
    compiled.any_destination = !rule.has_destination_part();
    compiled.linear =
        compiled.any_destination || !rule.keywords.empty() || !rule.regexes.empty() || !rule.countries.empty();
    if (compiled.linear) router->linear_.push_back(i);
    // The hashed tables hold the names; the rule keeps only what is tested per query.
    rule.domains.clear();
    rule.domains.shrink_to_fit();
    rule.suffixes.clear();
    rule.suffixes.shrink_to_fit();
    rule.cidrs.clear();
    rule.cidrs.shrink_to_fit();
  }
  router->rules_ = std::move(rules);
  return std::shared_ptr<const Router>(std::move(router));
}

void Router::collect_candidates(const Query& query, std::vector<std::uint32_t>& out) const {
  auto take = [&](const std::vector<std::uint32_t>& rules) { out.insert(out.end(), rules.begin(), rules.end()); };
  if (!query.domain.empty()) {
    if (auto it = exact_.find(query.domain); it != exact_.end()) take(it->second);
    std::string_view name = query.domain;
    for (;;) {
      if (auto it = suffix_.find(name); it != suffix_.end()) take(it->second);
      auto dot = name.find('.');
      if (dot == std::string_view::npos) break;
      name.remove_prefix(dot + 1);
    }
  } else if (query.address) {
    auto address = unmapped(*query.address);
    for (const auto& table : cidr_tables_) {
      if (table.v6 != address.is_v6()) continue;
      if (auto it = table.networks.find(masked_key(address, table.prefix)); it != table.networks.end())
        take(it->second);
    }
  }
}

bool Router::linear_destination_matches(std::uint32_t index, const Query& query,
                                        std::optional<std::optional<CountryCode>>& country) const {
  const auto& rule = rules_[index];
  if (compiled_[index].any_destination) return true;
  if (!query.domain.empty()) {
    for (const auto& keyword : rule.keywords)
      if (query.domain.find(keyword) != std::string_view::npos) return true;
    for (const auto& regex : compiled_[index].regexes)
      if (std::regex_search(query.domain.begin(), query.domain.end(), regex)) return true;
    return false;
  }
  if (!query.address || rule.countries.empty() || !geoip_) return false;
  if (!country) country = geoip_->country(unmapped(*query.address));  // once per query
  return *country && std::find(rule.countries.begin(), rule.countries.end(), **country) != rule.countries.end();
}

bool Router::rest_matches(const Rule& rule, const Query& query) const {
  if (rule.network && *rule.network != query.network) return false;
  if (!rule.ports.empty() && std::none_of(rule.ports.begin(), rule.ports.end(), [&](const PortRange& r) {
        return query.port >= r.first && query.port <= r.last;
      }))
    return false;
  if (!rule.inbounds.empty() &&
      std::find(rule.inbounds.begin(), rule.inbounds.end(), query.inbound) == rule.inbounds.end())
    return false;
  return true;
}

const Action& Router::route(const Query& query) const {
  thread_local std::vector<std::uint32_t> candidates;
  candidates.clear();
  collect_candidates(query, candidates);
  std::sort(candidates.begin(), candidates.end());
  std::optional<std::optional<CountryCode>> country;
  auto c = candidates.begin();
  auto l = linear_.begin();
  while (c != candidates.end() || l != linear_.end()) {
    std::uint32_t index;
    bool destination;
    if (l == linear_.end() || (c != candidates.end() && *c <= *l)) {
      index = *c;
      destination = true;
      while (c != candidates.end() && *c == index) ++c;
      if (l != linear_.end() && *l == index) ++l;
    } else {
      index = *l++;
      destination = linear_destination_matches(index, query, country);
    }
    if (destination && rest_matches(rules_[index], query)) return rules_[index].action;
  }
  return final_;
}

}  // namespace culvert::routing
