// Router: the compiled rule list. Exact and suffix domains are hashed (one lookup per label of the
// queried name) and CIDRs are hashed per prefix length, so 100,000 domain rules cost what ten do;
// only keyword, regex and GeoIP parts are tested one rule at a time. First match wins, as the rule
// order says (rule.h).
// Thread model: immutable after build(); route() is const.
#pragma once

#include <memory>
#include <regex>
#include <unordered_map>

#include "core/result.h"
#include "routing/geoip.h"
#include "routing/rule.h"

namespace culvert::routing {

class Router {
 public:
  // `geoip` may be null when no rule has a GeoIP part. Errors (a bad regex, GeoIP rules without a
  // database) come with a message for the user.
  static Result<std::shared_ptr<const Router>> build(std::vector<Rule> rules, Action final_action,
                                                     std::shared_ptr<GeoIp> geoip, std::string& message);

  const Action& route(const Query& query) const;
  const std::vector<Rule>& rules() const { return rules_; }
  const Action& final_action() const { return final_; }

 private:
  struct Compiled {
    std::vector<std::regex> regexes;
    bool linear = false;           // tested in full for every query (keyword, regex, GeoIP, no destination)
    bool any_destination = false;  // the rule has no destination part: every destination matches
  };
  // Rules whose destination part can hold: hashed hits, plus the linear rules.
  void collect_candidates(const Query& query, std::vector<std::uint32_t>& out) const;
  bool rest_matches(const Rule& rule, const Query& query) const;
  bool linear_destination_matches(std::uint32_t index, const Query& query,
                                  std::optional<std::optional<CountryCode>>& country) const;

  std::vector<Rule> rules_;
  std::vector<Compiled> compiled_;
  std::vector<std::uint32_t> linear_;
  Action final_;
  std::shared_ptr<GeoIp> geoip_;
  struct NameHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  using NameIndex = std::unordered_map<std::string, std::vector<std::uint32_t>, NameHash, std::equal_to<>>;
  // name -> rules (ascending) holding it as an exact name / as a suffix
  NameIndex exact_;
  NameIndex suffix_;
  // per family and prefix length: masked network -> rules
  struct NetworkKey {
    std::uint64_t high = 0;
    std::uint64_t low = 0;
    bool operator==(const NetworkKey&) const = default;
  };
  struct NetworkKeyHash {
    std::size_t operator()(const NetworkKey& k) const {
      return std::hash<std::uint64_t>()(k.high * 0x9E3779B97F4A7C15ULL ^ k.low);
    }
  };
  struct CidrTable {
    unsigned prefix = 0;
    bool v6 = false;
    std::unordered_map<NetworkKey, std::vector<std::uint32_t>, NetworkKeyHash> networks;
  };
  static NetworkKey masked_key(const asio::ip::address& address, unsigned prefix);
  std::vector<CidrTable> cidr_tables_;
};

}  // namespace culvert::routing
