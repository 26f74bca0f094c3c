// The client's TOML configuration: servers (share links), groups of servers, DNS, routing rules.
// Every key and its default is in docs/configuration.md. `culvert client LINK` builds the same
// struct from one link and command-line flags. Relative rule-set paths are relative to the
// configuration file's directory.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "core/result.h"
#include "link/share_link.h"
#include "routing/rule.h"

namespace culvert {

struct ServerEntry {
  std::string name;
  ShareLink link;
};

struct GroupConfig {
  enum class Kind { fallback, url_test, select };
  std::string name;
  Kind kind = Kind::fallback;
  std::vector<std::string> servers;  // names of [[server]] entries, in order of preference
  // Health check through each server's tunnel: an HTTP GET whose status line must arrive.
  std::string url = "http://www.gstatic.com/generate_204";
  std::chrono::milliseconds interval{60000};
  std::chrono::milliseconds timeout{5000};
  std::chrono::milliseconds tolerance{50};  // url-test: switch only to a server faster by more
  std::string selected;                     // select: the chosen server (default: the first)
  // A subscription URL whose links fill this group at run time ([[subscription]]; `servers` is
  // then empty), read again every `refresh` and when every server of the group failed.
  std::string subscription;
  std::chrono::milliseconds refresh{std::chrono::hours(12)};
};

struct DnsConfig {
  std::string listen;                            // "127.0.0.1:5353"; "" = no DNS server
  std::string direct_resolver = "223.5.5.5:53";  // for names routed direct (AliDNS by default)
  bool fake_ip = false;
  std::string fake_ip_range = "198.18.0.0/15";
  std::size_t cache_size = 4096;
  std::chrono::milliseconds timeout{5000};
};

struct ClientConfig {
  std::string listen = "127.0.0.1:1080";  // SOCKS5, HTTP proxy and /proxy.pac
  std::string log_level = "info";
  bool padding = true;
  // Tunnels per server, and the streams a tunnel takes before another is opened.
  std::size_t max_tunnels = 4;
  std::size_t streams_per_tunnel = 128;
  std::vector<ServerEntry> servers;
  std::vector<GroupConfig> groups;
  DnsConfig dns;
  std::string profile = "bypass-cn";  // bypass-cn | global | none
  std::string geoip;                  // path of a .mmdb country database; "" = none
  std::vector<routing::Rule> rules;   // the user's rules (rule sets already loaded), before the profile's
  std::string final_outbound;         // default: the first group, else the first server
};

// Reads and validates a client configuration file. Errors carry a message in `message`.
Result<ClientConfig> load_client_config(const std::string& path, std::string& message);
// The same from text; rule-set paths are resolved against `base_dir`.
Result<ClientConfig> parse_client_config(std::string_view text, const std::string& base_dir, std::string& message);
// Checks names and references (groups name servers, rules name outbounds) and fills defaults.
Result<void> validate_client_config(ClientConfig& config, std::string& message);

}  // namespace culvert
