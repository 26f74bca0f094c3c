#include "config/client_config.h"

#include "config/known_keys.h"

#include <toml++/toml.h>

#include <algorithm>
#include <charconv>
#include <set>
#include <sstream>

#include "core/file.h"
#include "core/tcp_stream.h"
#include "routing/profiles.h"
#include "routing/rule_list.h"

namespace culvert {
namespace {

// A string or an array of strings.
bool strings(const toml::node_view<const toml::node>& node, std::vector<std::string>& out) {
  if (!node) return true;
  if (auto s = node.value<std::string>()) {
    out.push_back(*s);
    return true;
  }
  auto array = node.as_array();
  if (!array) return false;
  for (const auto& item : *array) {
    auto s = item.value<std::string>();
    if (!s) return false;
    out.push_back(*s);
  }
  return true;
}

bool parse_port_range(std::string_view text, routing::PortRange& out) {
  auto number = [](std::string_view s, std::uint16_t& v) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (ec != std::errc() || end != s.data() + s.size() || s.empty() || value > 65535) return false;
    v = static_cast<std::uint16_t>(value);
    return true;
  };
  auto dash = text.find('-');
  if (dash == std::string_view::npos) {
    if (!number(text, out.first)) return false;
    out.last = out.first;
    return true;
  }
  return number(text.substr(0, dash), out.first) && number(text.substr(dash + 1), out.last) && out.first <= out.last;
}

std::string resolve_path(const std::string& base_dir, const std::string& path) {
  if (path.empty() || path.front() == '/' || base_dir.empty()) return path;
  return base_dir + "/" + path;
}

Result<routing::Rule> parse_rule(const toml::table& t, std::size_t number, const std::string& base_dir,
                                 std::string& message) {
  auto where = "rule " + std::to_string(number) + ": ";
  routing::Rule rule;
  std::vector<std::string> list;
  auto take = [&](const char* key, auto add) -> bool {
    list.clear();
    if (!strings(t[key], list)) {
      message = where + key + " must be a string or a list of strings";
      return false;
    }
    for (const auto& item : list)
      if (!add(item)) {
        if (message.empty()) message = where + "bad " + key + " \"" + item + "\"";
        return false;
      }
    return true;
  };
  bool ok = take("domain",
                 [&](const std::string& s) {
                   rule.domains.push_back(routing::normalize_domain(s));
                   return !s.empty();
                 }) &&
            take("domain_suffix",
                 [&](const std::string& s) {
                   rule.suffixes.push_back(routing::normalize_domain(s.starts_with(".") ? s.substr(1) : s));
                   return !s.empty();
                 }) &&
            take("domain_keyword",
                 [&](const std::string& s) {
                   rule.keywords.push_back(routing::normalize_domain(s));
                   return !s.empty();
                 }) &&
            take("domain_regex",
                 [&](const std::string& s) {
                   rule.regexes.push_back(s);
                   return !s.empty();
                 }) &&
            take("ip_cidr",
                 [&](const std::string& s) {
                   auto cidr = routing::parse_cidr(s);
                   if (cidr) rule.cidrs.push_back(*cidr);
                   return cidr.has_value();
                 }) &&
            take("geoip",
                 [&](const std::string& s) {
                   auto country = routing::parse_country(s);
                   if (country) rule.countries.push_back(*country);
                   return country.has_value();
                 }) &&
            take("inbound",
                 [&](const std::string& s) {
                   rule.inbounds.push_back(s);
                   return s == "socks" || s == "http" || s == "dns";
                 }) &&
            take("rule_set", [&](const std::string& s) {
              auto path = resolve_path(base_dir, s);
              auto text = read_file(path);
              if (!text) {
                message = where + "cannot read rule set " + path;
                return false;
              }
              routing::RuleListStats stats;
              if (!routing::parse_rule_list(*text, rule, stats)) {
                message =
                    where + "rule set " + path + " line " + std::to_string(stats.first_bad_line) + " is malformed";
                return false;
              }
              return true;
            });
  if (!ok) return fail(Errc::bad_config);
  if (auto ports = t["port"]; ports) {
    auto add = [&](const toml::node& node) {
      routing::PortRange range;
      if (auto n = node.value<std::int64_t>(); n && *n >= 0 && *n <= 65535) {
        range.first = range.last = static_cast<std::uint16_t>(*n);
      } else if (auto s = node.value<std::string>(); !s || !parse_port_range(*s, range)) {
        return false;
      }
      rule.ports.push_back(range);
      return true;
    };
    bool good = true;
    if (auto array = ports.as_array()) {
      for (const auto& item : *array) good = good && add(item);
    } else {
      good = add(*ports.node());
    }
    if (!good) {
      message = where + "port must be a port, \"FIRST-LAST\", or a list of them";
      return fail(Errc::bad_config);
    }
  }
  if (auto network = t["network"].value<std::string>()) {
    if (*network == "tcp") {
      rule.network = routing::Network::tcp;
    } else if (*network == "udp") {
      rule.network = routing::Network::udp;
    } else {
      message = where + "network must be \"tcp\" or \"udp\"";
      return fail(Errc::bad_config);
    }
  }
  auto action = t["action"].value<std::string>();
  if (!action || action->empty()) {
    message = where + "action must be \"direct\", \"block\" or a server or group name";
    return fail(Errc::bad_config);
  }
  if (*action == "direct") {
    rule.action = routing::Action::direct();
  } else if (*action == "block") {
    rule.action = routing::Action::block();
  } else {
    rule.action = routing::Action::proxy(*action);
  }
  return rule;
}

}  // namespace

Result<ClientConfig> load_client_config(const std::string& path, std::string& message) {
  auto text = read_file(path);
  if (!text) {
    message = "cannot read " + path;
    return fail(Errc::bad_config);
  }
  auto slash = path.rfind('/');
  auto config = parse_client_config(*text, slash == std::string::npos ? "." : path.substr(0, slash), message);
  if (!config) message = path + ": " + message;
  return config;
}

Result<ClientConfig> parse_client_config(std::string_view text, const std::string& base_dir, std::string& message) {
  ClientConfig c;
  toml::table t;
  try {
    t = toml::parse(text);
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << e.description() << " at line " << e.source().begin.line;
    message = os.str();
    return fail(Errc::bad_config);
  }
  static const KeySchema kSchema = {
      {"",
       {"listen", "log_level", "padding", "max_tunnels", "streams_per_tunnel", "server", "group", "subscription", "dns",
        "routing", "rule"}},
      {"subscription", {"name", "url", "type", "interval_ms", "check_url", "check_interval_ms"}},
      {"server", {"name", "link"}},
      {"group", {"name", "type", "servers", "url", "selected", "interval_ms", "timeout_ms", "tolerance_ms"}},
      {"dns", {"listen", "direct_resolver", "fake_ip", "fake_ip_range", "cache_size", "timeout_ms"}},
      {"routing", {"profile", "geoip", "final"}},
      {"rule",
       {"domain", "domain_suffix", "domain_keyword", "domain_regex", "ip_cidr", "geoip", "inbound", "rule_set", "port",
        "network", "action"}},
  };
  if (!check_known_keys(t, kSchema, "", message)) return fail(Errc::bad_config);
  if (auto v = t["listen"].value<std::string>()) c.listen = *v;
  if (auto v = t["log_level"].value<std::string>()) c.log_level = *v;
  if (auto v = t["padding"].value<bool>()) c.padding = *v;
  if (auto v = t["max_tunnels"].value<std::int64_t>()) c.max_tunnels = *v > 0 ? static_cast<std::size_t>(*v) : 0;
  if (auto v = t["streams_per_tunnel"].value<std::int64_t>())
    c.streams_per_tunnel = *v > 0 ? static_cast<std::size_t>(*v) : 0;
  auto ms = [&](const toml::node_view<toml::node>& node, std::chrono::milliseconds& out) {
    if (!node) return true;
    auto v = node.value<std::int64_t>();
    if (!v || *v <= 0) return false;
    out = std::chrono::milliseconds(*v);
    return true;
  };

  if (auto servers = t["server"].as_array()) {
    for (auto& node : *servers) {
      auto* table = node.as_table();
      if (!table) {
        message = "[[server]] entries must be tables";
        return fail(Errc::bad_config);
      }
      ServerEntry entry;
      entry.name = (*table)["name"].value_or(std::string());
      auto text_link = (*table)["link"].value_or(std::string());
      std::string why;
      auto link = parse_share_link(text_link, &why);
      if (!link) {
        message = "server \"" + entry.name + "\": link: " + why;
        return fail(Errc::bad_config);
      }
      entry.link = std::move(*link);
      c.servers.push_back(std::move(entry));
    }
  }
  if (auto subscriptions = t["subscription"].as_array()) {
    for (auto& node : *subscriptions) {
      auto* table = node.as_table();
      if (!table) {
        message = "[[subscription]] entries must be tables";
        return fail(Errc::bad_config);
      }
      GroupConfig g;
      g.name = (*table)["name"].value_or(std::string("subscription"));
      g.subscription = (*table)["url"].value_or(std::string());
      auto type = (*table)["type"].value_or(std::string("fallback"));
      if (type == "url-test") {
        g.kind = GroupConfig::Kind::url_test;
      } else if (type != "fallback") {
        message = "subscription \"" + g.name + "\": type must be fallback or url-test";
        return fail(Errc::bad_config);
      }
      if (auto v = (*table)["check_url"].value<std::string>()) g.url = *v;
      if (!ms((*table)["interval_ms"], g.refresh) || !ms((*table)["check_interval_ms"], g.interval)) {
        message = "subscription \"" + g.name + "\": interval_ms and check_interval_ms must be positive";
        return fail(Errc::bad_config);
      }
      c.groups.push_back(std::move(g));
    }
  }
  if (auto groups = t["group"].as_array()) {
    for (auto& node : *groups) {
      auto* table = node.as_table();
      if (!table) {
        message = "[[group]] entries must be tables";
        return fail(Errc::bad_config);
      }
      GroupConfig g;
      g.name = (*table)["name"].value_or(std::string());
      auto type = (*table)["type"].value_or(std::string("fallback"));
      if (type == "fallback") {
        g.kind = GroupConfig::Kind::fallback;
      } else if (type == "url-test") {
        g.kind = GroupConfig::Kind::url_test;
      } else if (type == "select") {
        g.kind = GroupConfig::Kind::select;
      } else {
        message = "group \"" + g.name + "\": type must be fallback, url-test or select";
        return fail(Errc::bad_config);
      }
      if (!strings(toml::node_view<const toml::node>((*table)["servers"].node()), g.servers)) {
        message = "group \"" + g.name + "\": servers must be a list of server names";
        return fail(Errc::bad_config);
      }
      if (auto v = (*table)["url"].value<std::string>()) g.url = *v;
      if (auto v = (*table)["selected"].value<std::string>()) g.selected = *v;
      if (!ms((*table)["interval_ms"], g.interval) || !ms((*table)["timeout_ms"], g.timeout) ||
          !ms((*table)["tolerance_ms"], g.tolerance)) {
        message = "group \"" + g.name + "\": interval_ms, timeout_ms and tolerance_ms must be positive";
        return fail(Errc::bad_config);
      }
      c.groups.push_back(std::move(g));
    }
  }
  if (auto dns = t["dns"].as_table()) {
    if (auto v = (*dns)["listen"].value<std::string>()) c.dns.listen = *v;
    if (auto v = (*dns)["direct_resolver"].value<std::string>()) c.dns.direct_resolver = *v;
    if (auto v = (*dns)["fake_ip"].value<bool>()) c.dns.fake_ip = *v;
    if (auto v = (*dns)["fake_ip_range"].value<std::string>()) c.dns.fake_ip_range = *v;
    if (auto v = (*dns)["cache_size"].value<std::int64_t>(); v && *v >= 0)
      c.dns.cache_size = static_cast<std::size_t>(*v);
    if (!ms((*dns)["timeout_ms"], c.dns.timeout)) {
      message = "dns.timeout_ms must be positive";
      return fail(Errc::bad_config);
    }
  }
  if (auto routing = t["routing"].as_table()) {
    if (auto v = (*routing)["profile"].value<std::string>()) c.profile = *v;
    if (auto v = (*routing)["geoip"].value<std::string>()) c.geoip = resolve_path(base_dir, *v);
    if (auto v = (*routing)["final"].value<std::string>()) c.final_outbound = *v;
  }
  if (auto rules = t["rule"].as_array()) {
    std::size_t number = 0;
    for (auto& node : *rules) {
      ++number;
      auto* table = node.as_table();
      if (!table) {
        message = "[[rule]] entries must be tables";
        return fail(Errc::bad_config);
      }
      auto rule = parse_rule(*table, number, base_dir, message);
      if (!rule) return fail(rule.error());
      c.rules.push_back(std::move(*rule));
    }
  }
  if (auto valid = validate_client_config(c, message); !valid) return fail(valid.error());
  return c;
}

Result<void> validate_client_config(ClientConfig& c, std::string& message) {
  std::string host;
  std::uint16_t port = 0;
  if (!split_host_port(c.listen, host, port)) {
    message = "listen must be HOST:PORT, got \"" + c.listen + "\"";
    return fail(Errc::bad_config);
  }
  if (!c.dns.listen.empty() && !split_host_port(c.dns.listen, host, port)) {
    message = "dns.listen must be HOST:PORT (or \"\" for no DNS server)";
    return fail(Errc::bad_config);
  }
  if (!split_host_port(c.dns.direct_resolver, host, port)) {
    message = "dns.direct_resolver must be IP:PORT";
    return fail(Errc::bad_config);
  }
  if (auto range = routing::parse_cidr(c.dns.fake_ip_range); !range || !range->network.is_v4() || range->prefix > 30) {
    message = "dns.fake_ip_range must be an IPv4 network of at least 4 addresses";
    return fail(Errc::bad_config);
  }
  if (c.log_level != "debug" && c.log_level != "info" && c.log_level != "warn" && c.log_level != "error") {
    message = "log_level must be debug, info, warn or error";
    return fail(Errc::bad_config);
  }
  if (c.max_tunnels < 1 || c.max_tunnels > 1000 || c.streams_per_tunnel < 1 || c.streams_per_tunnel > 4096) {
    message = "max_tunnels must be 1-1000 and streams_per_tunnel 1-4096";
    return fail(Errc::bad_config);
  }
  bool subscribed =
      std::any_of(c.groups.begin(), c.groups.end(), [](const auto& g) { return !g.subscription.empty(); });
  if (c.servers.empty() && !subscribed) {
    message = "at least one [[server]] with a share link, or a [[subscription]], is needed";
    return fail(Errc::bad_config);
  }
  std::set<std::string> names;
  for (auto& s : c.servers) {
    if (s.name.empty() || s.name == "direct" || s.name == "block" || !names.insert(s.name).second) {
      message = "every server needs a unique name other than \"direct\" and \"block\"";
      return fail(Errc::bad_config);
    }
  }
  std::set<std::string> server_names = names;
  for (auto& g : c.groups) {
    if (g.name.empty() || g.name == "direct" || g.name == "block" || !names.insert(g.name).second) {
      message = "every group needs a unique name (not a server's, not \"direct\" or \"block\")";
      return fail(Errc::bad_config);
    }
    if (!g.subscription.empty()) {
      if (!g.subscription.starts_with("https://")) {
        message = "subscription \"" + g.name + "\": url must be an https:// URL";
        return fail(Errc::bad_config);
      }
      if (!g.url.starts_with("http://")) {
        message = "subscription \"" + g.name + "\": check_url must be an http:// URL";
        return fail(Errc::bad_config);
      }
      continue;  // its servers come at run time
    }
    if (g.servers.empty()) {
      message = "group \"" + g.name + "\" has no servers";
      return fail(Errc::bad_config);
    }
    for (const auto& member : g.servers)
      if (!server_names.count(member)) {
        message = "group \"" + g.name + "\" names no server \"" + member + "\"";
        return fail(Errc::bad_config);
      }
    if (g.selected.empty()) g.selected = g.servers.front();
    if (std::find(g.servers.begin(), g.servers.end(), g.selected) == g.servers.end()) {
      message = "group \"" + g.name + "\": selected must be one of its servers";
      return fail(Errc::bad_config);
    }
    if (g.kind != GroupConfig::Kind::select && !g.url.starts_with("http://")) {
      message = "group \"" + g.name + "\": url must be an http:// URL (it is fetched through the tunnel)";
      return fail(Errc::bad_config);
    }
  }
  if (c.final_outbound.empty()) c.final_outbound = c.groups.empty() ? c.servers.front().name : c.groups.front().name;
  if (c.final_outbound != "direct" && c.final_outbound != "block" && !names.count(c.final_outbound)) {
    message = "routing.final names no server or group \"" + c.final_outbound + "\"";
    return fail(Errc::bad_config);
  }
  for (std::size_t i = 0; i < c.rules.size(); ++i) {
    const auto& action = c.rules[i].action;
    if (action.kind == routing::Action::Kind::proxy && !names.count(action.outbound)) {
      message = "rule " + std::to_string(i + 1) + ": action names no server or group \"" + action.outbound + "\"";
      return fail(Errc::bad_config);
    }
  }
  if (c.profile != "none" && !routing::profile_rules(c.profile, false)) {
    message = "routing.profile must be bypass-cn, global or none";
    return fail(Errc::bad_config);
  }
  return {};
}

}  // namespace culvert
