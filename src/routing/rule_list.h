// Rule-set files: lists of domains and networks that fill one rule's destination part. Accepted
// line formats (one entry per line, '#' or '//' starts a comment, blank lines ignored):
//   plain:     example.com (a suffix), 1.2.3.0/24, 2001:db8::/32, 1.2.3.4
//   prefixed:  full:example.com  domain:example.com  keyword:shop  regexp:^ads\.
//              (the v2fly domain-list style), +.example.com and .example.com (suffixes)
//   classical: DOMAIN,x  DOMAIN-SUFFIX,x  DOMAIN-KEYWORD,x  DOMAIN-REGEX,x  IP-CIDR,x[,no-resolve]
//              IP-CIDR6,x  GEOIP,CN — optionally as YAML list items ("payload:" / "  - 'DOMAIN,x'")
//   dnsmasq:   server=/example.cn/114.114.114.114 (dnsmasq-china-list; the name is a suffix)
// Lines of other classical types (PROCESS-NAME, ...) are skipped and counted, not fatal.
// Pure: parses text, no I/O.
#pragma once

#include <string>
#include <string_view>

#include "core/result.h"
#include "routing/rule.h"

namespace culvert::routing {

struct RuleListStats {
  std::size_t entries = 0;
  std::size_t skipped = 0;         // lines of a type this client does not match on
  std::size_t first_bad_line = 0;  // 1-based line of the first malformed entry, 0 if none
};

// Adds the entries of `text` to `rule`'s destination part. Errc::malformed names the first bad
// line in `stats.first_bad_line`.
Result<void> parse_rule_list(std::string_view text, Rule& rule, RuleListStats& stats);

}  // namespace culvert::routing
