// Fuzzes rule-set parsing and the router built from it (regexes left out: they come from the
// user's own files, and std::regex has no bound on matching time).
#include "routing/router.h"
#include "routing/rule_list.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace culvert::routing;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  Rule rule;
  RuleListStats stats;
  if (!parse_rule_list(text, rule, stats)) return 0;
  rule.regexes.clear();
  rule.countries.clear();
  rule.action = Action::direct();
  std::string message;
  auto router = Router::build({rule}, Action::block(), nullptr, message);
  if (!router) __builtin_trap();
  Query q;
  q.domain = text.substr(0, std::min<std::size_t>(text.size(), 64));
  (void)(*router)->route(q);
  Query a;
  a.address = asio::ip::make_address_v4(size > 4 ? (data[0] << 24 | data[1] << 16 | data[2] << 8 | data[3]) : 0u);
  (void)(*router)->route(a);
  return 0;
}
