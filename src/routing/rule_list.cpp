#include "routing/rule_list.h"

#include <algorithm>

namespace culvert::routing {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::string_view strip_comment(std::string_view line) {
  auto hash = line.find('#');
  if (hash != std::string_view::npos) line = line.substr(0, hash);
  auto slashes = line.find("//");
  if (slashes != std::string_view::npos) line = line.substr(0, slashes);
  return trim(line);
}

// A host name of letters, digits, '-', '_', '.' and bytes >= 0x80 (IDNs as written), 1..253 bytes.
bool plausible_name(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || u == '-' || u == '.' ||
           u == '_' || u >= 0x80;
  });
}

bool looks_like_address(std::string_view entry) {
  return entry.find('/') != std::string_view::npos || entry.find(':') != std::string_view::npos ||
         std::all_of(entry.begin(), entry.end(), [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
}

enum class Outcome { added, skipped, bad };

Outcome add_name(std::vector<std::string>& list, std::string_view name) {
  auto normal = normalize_domain(name);
  if (!plausible_name(normal)) return Outcome::bad;
  list.push_back(std::move(normal));
  return Outcome::added;
}

Outcome add_cidr(Rule& rule, std::string_view text) {
  auto cidr = parse_cidr(text);
  if (!cidr) return Outcome::bad;
  rule.cidrs.push_back(*cidr);
  return Outcome::added;
}

Outcome add_classical(Rule& rule, std::string_view type, std::string_view value) {
  if (type == "DOMAIN") return add_name(rule.domains, value);
  if (type == "DOMAIN-SUFFIX") return add_name(rule.suffixes, value);
  if (type == "DOMAIN-KEYWORD") {
    if (value.empty()) return Outcome::bad;
    rule.keywords.push_back(normalize_domain(value));
    return Outcome::added;
  }
  if (type == "DOMAIN-REGEX") {
    if (value.empty()) return Outcome::bad;
    rule.regexes.emplace_back(value);
    return Outcome::added;
  }
  if (type == "IP-CIDR" || type == "IP-CIDR6") return add_cidr(rule, value);
  if (type == "GEOIP") {
    auto country = parse_country(value);
    if (!country) return Outcome::bad;
    rule.countries.push_back(*country);
    return Outcome::added;
  }
  return Outcome::skipped;
}

Outcome add_entry(Rule& rule, std::string_view entry) {
  // YAML rule providers: "payload:" then "  - 'DOMAIN-SUFFIX,x'".
  if (entry == "payload:") return Outcome::skipped;
  if (entry.starts_with("- ")) entry = trim(entry.substr(2));
  if (entry.size() >= 2 && (entry.front() == '\'' || entry.front() == '"') && entry.back() == entry.front())
    entry = entry.substr(1, entry.size() - 2);
  if (entry.empty()) return Outcome::bad;
  // dnsmasq lists (dnsmasq-china-list): server=/example.cn/114.114.114.114 names a suffix.
  if (entry.starts_with("server=/") || entry.starts_with("ipset=/") || entry.starts_with("nftset=/")) {
    auto name = entry.substr(entry.find('/') + 1);
    auto slash = name.find('/');
    if (slash == std::string_view::npos) return Outcome::bad;
    return add_name(rule.suffixes, name.substr(0, slash));
  }

  auto comma = entry.find(',');
  if (comma != std::string_view::npos) {
    auto type = trim(entry.substr(0, comma));
    auto rest = entry.substr(comma + 1);
    auto value = trim(rest.substr(0, rest.find(',')));  // drops options such as ",no-resolve"
    return add_classical(rule, type, value);
  }
  auto colon = entry.find(':');
  if (colon != std::string_view::npos && !looks_like_address(entry.substr(colon + 1))) {
    auto kind = entry.substr(0, colon);
    auto value = entry.substr(colon + 1);
    if (kind == "full") return add_name(rule.domains, value);
    if (kind == "domain") return add_name(rule.suffixes, value);
    if (kind == "keyword") return add_classical(rule, "DOMAIN-KEYWORD", value);
    if (kind == "regexp") return add_classical(rule, "DOMAIN-REGEX", value);
    return Outcome::skipped;  // include:, and types this client does not match on
  }
  if (entry.starts_with("+.")) return add_name(rule.suffixes, entry.substr(2));
  if (entry.starts_with(".")) return add_name(rule.suffixes, entry.substr(1));
  if (looks_like_address(entry)) return add_cidr(rule, entry);
  return add_name(rule.suffixes, entry);
}

}  // namespace

Result<void> parse_rule_list(std::string_view text, Rule& rule, RuleListStats& stats) {
  std::size_t line_number = 0;
  while (!text.empty()) {
    auto end = text.find('\n');
    auto line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    ++line_number;
    // v2fly lists carry attributes after a space ("domain:x @cn"); classical lines have none.
    auto entry = strip_comment(line);
    if (entry.empty()) continue;
    if (auto at = entry.find(" @"); at != std::string_view::npos) entry = trim(entry.substr(0, at));
    switch (add_entry(rule, entry)) {
      case Outcome::added:
        ++stats.entries;
        break;
      case Outcome::skipped:
        ++stats.skipped;
        break;
      case Outcome::bad:
        if (stats.first_bad_line == 0) stats.first_bad_line = line_number;
        return fail(Errc::malformed);
    }
  }
  return {};
}

}  // namespace culvert::routing
