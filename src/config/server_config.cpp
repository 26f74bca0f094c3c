#include "config/server_config.h"

#include "link/share_link.h"

#include "config/known_keys.h"

#include <toml++/toml.h>

#include <sstream>

#include "core/file.h"
#include "core/tcp_stream.h"

namespace culvert {

std::string ServerConfig::path(const std::string& relative) const {
  if (!relative.empty() && relative.front() == '/') return relative;
  return data_dir + "/" + relative;
}

Result<ServerConfig> load_server_config(const std::string& data_dir, std::string& message) {
  std::string source = data_dir + "/config.toml";
  auto text = read_file(source);
  if (!text) {
    message = "cannot read " + source + " (run `culvert server init --dir " + data_dir + "` first?)";
    return fail(Errc::bad_config);
  }
  return parse_server_config(*text, data_dir, source, message);
}

Result<ServerConfig> parse_server_config(std::string_view text, const std::string& data_dir, const std::string& source,
                                         std::string& message) {
  ServerConfig c;
  c.data_dir = data_dir;
  std::string wrong_type;
  toml::table t;
  try {
    t = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << source << ": " << e.description() << " at line " << e.source().begin.line;
    message = os.str();
    return fail(Errc::bad_config);
  }
  static const KeySchema kSchema = {
      {"",
       {"listen",
        "public_host",
        "sni",
        "transport",
        "target",
        "certificate",
        "key",
        "certificate_pinned",
        "static_key",
        "store",
        "users_db",
        "postgres",
        "allow_private",
        "handshake_timeout_ms",
        "connect_timeout_ms",
        "stream_idle_timeout_ms",
        "log_level",
        "admin_listen",
        "run_as",
        "drain_timeout_ms",
        "congestion_control",
        "udp_idle_timeout_ms",
        "max_udp_associations_per_user",
        "max_tunnels",
        "max_tunnels_per_user",
        "max_streams_per_tunnel",
        "memory_budget_mb",
        "user_check_interval_ms",
        "usage_flush_interval_ms",
        "dns_resolver",
        "cover",
        "acme",
        "cdn",
        "subscription_path"}},
      {"cover", {"mode", "upstream", "upstream_tls", "alpn"}},
      {"acme", {"directory", "email", "ca_file", "renew_before_days"}},
      {"cdn", {"front", "path", "origin_tls", "upload"}},
  };
  if (!check_known_keys(t, kSchema, source, message)) return fail(Errc::bad_config);
  // A key with a value of the wrong type is an error that names the key, not a silent default.
  auto str = [&](const char* key, std::string& out) {
    if (auto node = t[key]; node) {
      if (auto v = node.value<std::string>()) {
        out = *v;
      } else {
        wrong_type = wrong_type.empty() ? std::string(key) + " must be a string" : wrong_type;
      }
    }
  };
  str("listen", c.listen);
  str("public_host", c.public_host);
  str("sni", c.sni);
  str("transport", c.transport);
  str("subscription_path", c.subscription_path);
  str("target", c.target);
  str("certificate", c.certificate);
  str("key", c.key);
  str("static_key", c.static_key);
  str("users_db", c.users_db);
  str("store", c.store);
  str("postgres", c.postgres);
  str("log_level", c.log_level);
  str("congestion_control", c.congestion_control);
  str("dns_resolver", c.dns_resolver);
  str("admin_listen", c.admin_listen);
  str("run_as", c.run_as);
  if (!wrong_type.empty()) {
    message = wrong_type;
    return fail(Errc::bad_config);
  }
  auto boolean = [&](const char* key, bool& out) -> bool {
    if (auto node = t[key]; node) {
      auto v = node.value<bool>();
      if (!v || !node.is_boolean()) {
        message = std::string(key) + " must be true or false";
        return false;
      }
      out = *v;
    }
    return true;
  };
  auto count = [&](const char* key, std::size_t& out, std::int64_t max) -> bool {
    if (auto node = t[key]; node) {
      auto v = node.value<std::int64_t>();
      if (!v || *v < 0 || *v > max) {
        message = std::string(key) + " must be an integer from 0 to " + std::to_string(max);
        return false;
      }
      out = static_cast<std::size_t>(*v);
    }
    return true;
  };
  if (!count("max_tunnels", c.max_tunnels, 1000000) ||
      !count("max_tunnels_per_user", c.max_tunnels_per_user, 1000000) ||
      !count("max_streams_per_tunnel", c.max_streams_per_tunnel, 65536) ||
      !count("memory_budget_mb", c.memory_budget_mb, 1 << 20))
    return fail(Errc::bad_config);
  if (c.max_streams_per_tunnel == 0) {
    message = "max_streams_per_tunnel must be at least 1";
    return fail(Errc::bad_config);
  }
  if (auto node = t["max_udp_associations_per_user"]; node) {
    auto v = node.value<std::int64_t>();
    if (!v || *v < 0 || *v > 65536) {
      message = "max_udp_associations_per_user must be an integer from 0 (UDP off) to 65536";
      return fail(Errc::bad_config);
    }
    c.max_udp_associations_per_user = static_cast<std::size_t>(*v);
  }
  if (!boolean("certificate_pinned", c.certificate_pinned) || !boolean("allow_private", c.allow_private))
    return fail(Errc::bad_config);
  auto ms = [&](const char* key, std::chrono::milliseconds& out) -> bool {
    if (auto node = t[key]; node) {
      auto v = node.value<std::int64_t>();
      if (!v || *v <= 0 || !node.is_integer()) {
        message = std::string(key) + " must be a positive whole number of milliseconds";
        return false;
      }
      out = std::chrono::milliseconds(*v);
    }
    return true;
  };
  if (!ms("handshake_timeout_ms", c.handshake_timeout) || !ms("connect_timeout_ms", c.connect_timeout) ||
      !ms("stream_idle_timeout_ms", c.stream_idle_timeout) || !ms("udp_idle_timeout_ms", c.udp_idle_timeout) ||
      !ms("user_check_interval_ms", c.user_check_interval) || !ms("usage_flush_interval_ms", c.usage_flush_interval) ||
      !ms("drain_timeout_ms", c.drain_timeout))
    return fail(Errc::bad_config);
  if (auto cover = t["cover"].as_table()) {
    auto mode = (*cover)["mode"].value_or(std::string("builtin"));
    if (mode == "builtin") {
      c.cover.mode = CoverConfig::Mode::builtin;
    } else if (mode == "upstream") {
      c.cover.mode = CoverConfig::Mode::upstream;
    } else {
      message = "cover.mode must be \"builtin\" or \"upstream\"";
      return fail(Errc::bad_config);
    }
    c.cover.upstream = (*cover)["upstream"].value_or(std::string());
    c.cover.upstream_tls = (*cover)["upstream_tls"].value_or(std::string());
    if (auto alpn = (*cover)["alpn"].as_array()) {
      c.cover.alpn.clear();
      for (auto& p : *alpn)
        if (auto s = p.value<std::string>()) c.cover.alpn.push_back(*s);
    }
  }

  if (auto cdn = t["cdn"].as_table()) {
    c.cdn.front = (*cdn)["front"].value_or(std::string());
    c.cdn.path = (*cdn)["path"].value_or(std::string());
    c.cdn.origin_tls = (*cdn)["origin_tls"].value_or(false);
    c.cdn.upload = (*cdn)["upload"].value_or(std::string("packet"));
  }
  if (auto acme = t["acme"].as_table()) {
    c.acme.directory = (*acme)["directory"].value_or(std::string());
    c.acme.email = (*acme)["email"].value_or(std::string());
    c.acme.ca_file = (*acme)["ca_file"].value_or(std::string());
    c.acme.renew_before_days = static_cast<int>((*acme)["renew_before_days"].value_or(std::int64_t{30}));
    if (c.acme.renew_before_days < 0) {
      message = "acme.renew_before_days must be 0 or more";
      return fail(Errc::bad_config);
    }
    if (!c.acme.directory.empty() && c.acme.directory.rfind("https://", 0) != 0) {
      message = "acme.directory must be an https:// URL, got \"" + c.acme.directory + "\"";
      return fail(Errc::bad_config);
    }
  }

  std::string host;
  std::uint16_t port = 0;
  if (!split_host_port(c.listen, host, port)) {
    message = "listen must be HOST:PORT, got \"" + c.listen + "\"";
    return fail(Errc::bad_config);
  }
  if (!transport_for_name(c.transport)) {
    message = "transport \"" + c.transport + "\" is not supported (\"tls\", \"borrow\" or \"cdn\")";
    return fail(Errc::bad_config);
  }
  if (c.transport == "cdn") {
    if (c.cdn.path.size() < 2 || c.cdn.path.front() != '/' || c.cdn.path.back() == '/' ||
        c.cdn.path.find_first_of("?#% ") != std::string::npos) {
      message = "transport \"cdn\" needs cdn.path = \"/SECRET\" (a path prefix; server init makes one)";
      return fail(Errc::bad_config);
    }
    if (!c.cdn.front.empty() && !split_host_port(c.cdn.front, host, port)) {
      message = "cdn.front must be HOST:PORT (the CDN edge clients connect to), got \"" + c.cdn.front + "\"";
      return fail(Errc::bad_config);
    }
    if (c.cdn.upload != "packet" && c.cdn.upload != "stream") {
      message = "cdn.upload must be \"packet\" or \"stream\"";
      return fail(Errc::bad_config);
    }
  }
  if (c.transport == "borrow" && (!split_host_port(c.target, host, port) || c.sni.empty())) {
    message = "transport \"borrow\" needs target = \"HOST:PORT\" (the borrowed site) and sni (its name)";
    return fail(Errc::bad_config);
  }
  if (!c.subscription_path.empty() && (c.subscription_path.front() != '/' || c.subscription_path.back() == '/' ||
                                       c.subscription_path.find_first_of("?#% ") != std::string::npos)) {
    message = "subscription_path must be a path such as \"/s\" (or \"\" for no subscriptions)";
    return fail(Errc::bad_config);
  }
  if (c.store != "sqlite" && c.store != "postgres") {
    message = "store must be \"sqlite\" or \"postgres\"";
    return fail(Errc::bad_config);
  }
  if (c.store == "postgres" && c.postgres.empty()) {
    message = "store = \"postgres\" needs postgres = \"host=... dbname=... user=...\" (a libpq connection string)";
    return fail(Errc::bad_config);
  }
  if (c.public_host.empty()) {
    message = "public_host must be set (the address clients connect to)";
    return fail(Errc::bad_config);
  }
  if (c.cover.mode == CoverConfig::Mode::upstream && !split_host_port(c.cover.upstream, host, port)) {
    message = "cover.upstream must be HOST:PORT when cover.mode = \"upstream\"";
    return fail(Errc::bad_config);
  }
  if (!c.admin_listen.empty() && !split_host_port(c.admin_listen, host, port)) {
    message = "admin_listen must be HOST:PORT (or \"\" for no admin API)";
    return fail(Errc::bad_config);
  }
  if (!c.dns_resolver.empty() && !split_host_port(c.dns_resolver, host, port)) {
    message = "dns_resolver must be IP:PORT (or \"\" for the system's), got \"" + c.dns_resolver + "\"";
    return fail(Errc::bad_config);
  }
  if (c.log_level != "debug" && c.log_level != "info" && c.log_level != "warn" && c.log_level != "error") {
    message = "log_level must be debug, info, warn or error";
    return fail(Errc::bad_config);
  }
  if (c.congestion_control.size() > 15 ||
      c.congestion_control.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") != std::string::npos) {
    message = "congestion_control must be a kernel algorithm name such as \"bbr\" or \"cubic\" (or \"\")";
    return fail(Errc::bad_config);
  }
  return c;
}

std::string render_server_config(const ServerConfig& c) {
  std::ostringstream os;
  auto q = [](const std::string& s) {
    std::string out = "\"";
    for (char ch : s) {
      if (ch == '"' || ch == '\\') out += '\\';
      out += ch;
    }
    return out + "\"";
  };
  os << "# Culvert server configuration. Relative paths are inside this directory.\n"
     << "# Reference: docs/configuration.md\n\n"
     << "# Address and port the server accepts clients (and probes) on.\n"
     << "listen = " << q(c.listen) << "\n"
     << "# Host name or IP that share links tell clients to connect to.\n"
     << "public_host = " << q(c.public_host) << "\n"
     << "# SNI that clients send; empty for none (as browsers do for IP addresses).\n"
     << "sni = " << q(c.sni) << "\n"
     << "# tls: Culvert's own certificate. borrow: a real site's TLS identity (target); non-users are\n"
     << "# relayed to the target itself, users are answered in the target's shape. cdn: clients come\n"
     << "# through a CDN to the cover site's secret path ([cdn]).\n"
     << "transport = " << q(c.transport) << "\n"
     << "target = " << q(c.target) << "\n"
     << "certificate = " << q(c.certificate) << "\n"
     << "key = " << q(c.key) << "\n"
     << "# true: links pin this certificate's public key (self-signed). false: clients check the CA chain.\n"
     << "certificate_pinned = " << (c.certificate_pinned ? "true" : "false") << "\n"
     << "# X25519 static key of the borrow and cdn transports (its public half is in every link).\n"
     << "static_key = " << q(c.static_key) << "\n"
     << "# Users: sqlite (users_db, in this directory) or postgres (several servers sharing users;\n"
     << "# postgres = a libpq connection string, e.g. \"host=db.internal dbname=culvert user=culvert\").\n"
     << "store = " << q(c.store) << "\n"
     << "users_db = " << q(c.users_db) << "\n"
     << "postgres = " << q(c.postgres) << "\n"
     << "# Let users reach loopback and private addresses (tests, home labs). Keep false on a public server.\n"
     << "allow_private = " << (c.allow_private ? "true" : "false") << "\n"
     << "handshake_timeout_ms = " << c.handshake_timeout.count() << "\n"
     << "connect_timeout_ms = " << c.connect_timeout.count() << "\n"
     << "stream_idle_timeout_ms = " << c.stream_idle_timeout.count() << "\n"
     << "# TCP congestion control for tunnels; bbr keeps its rate on lossy long links. \"\" keeps the\n"
     << "# system default; an algorithm the kernel refuses falls back to it (logged at start).\n"
     << "congestion_control = " << q(c.congestion_control) << "\n"
     << "# UDP for clients (DNS, QUIC, calls): idle limit per association, associations per user (0: off).\n"
     << "udp_idle_timeout_ms = " << c.udp_idle_timeout.count() << "\n"
     << "max_udp_associations_per_user = " << c.max_udp_associations_per_user << "\n"
     << "# Limits (0: none): tunnels at once, per user (a user's own limit wins), streams per tunnel.\n"
     << "max_tunnels = " << c.max_tunnels << "\n"
     << "max_tunnels_per_user = " << c.max_tunnels_per_user << "\n"
     << "max_streams_per_tunnel = " << c.max_streams_per_tunnel << "\n"
     << "# MiB of received data waiting for destinations; past it new streams are refused (0: none).\n"
     << "memory_budget_mb = " << c.memory_budget_mb << "\n"
     << "# Users of open tunnels are checked again this often (revoked, expired, over quota: closed);\n"
     << "# usage (bytes per user, nothing else) is written to the store this often.\n"
     << "user_check_interval_ms = " << c.user_check_interval.count() << "\n"
     << "usage_flush_interval_ms = " << c.usage_flush_interval.count() << "\n"
     << "# DNS resolver (IP:PORT) for names clients resolve through the tunnel; \"\" = /etc/resolv.conf's.\n"
     << "dns_resolver = " << q(c.dns_resolver) << "\n"
     << "# Users' subscriptions (all their links, every server of the fleet) under this path of the\n"
     << "# cover site, at a secret token per user (`culvert user subscription NAME`); \"\" = none.\n"
     << "subscription_path = " << q(c.subscription_path) << "\n"
     << "# Admin HTTP API and Prometheus /metrics, token in admin.token (\"\" = off).\n"
     << "admin_listen = " << q(c.admin_listen) << "\n"
     << "# Started as root: bind, then run as this user (\"\" = stay root).\n"
     << "run_as = " << q(c.run_as) << "\n"
     << "# SIGTERM: open streams get this long to finish; SIGHUP re-reads this file.\n"
     << "drain_timeout_ms = " << c.drain_timeout.count() << "\n"
     << "# debug logs destinations; info and above never do.\n"
     << "log_level = " << q(c.log_level) << "\n\n"
     << "[cover]\n"
     << "# What anyone who is not a valid client sees. builtin: a small static website served by\n"
     << "# Culvert itself, exactly as a stock nginx 1.22 serves it. upstream: a plain-HTTP web server\n"
     << "# (e.g. a local nginx) at `upstream`; set `upstream_tls` to that server's own TLS port so it\n"
     << "# answers non-TLS bytes itself.\n"
     << "mode = " << q(c.cover.mode == CoverConfig::Mode::builtin ? "builtin" : "upstream") << "\n"
     << "upstream = " << q(c.cover.upstream) << "\n"
     << "upstream_tls = " << q(c.cover.upstream_tls) << "\n"
     << "# ALPN protocols the cover really speaks (default: h2 and http/1.1 for builtin, http/1.1 for\n"
     << "# upstream; list h2 for an upstream only if it takes cleartext HTTP/2 with prior knowledge).\n";
  if (c.cover.alpn.empty()) {
    os << "# alpn = [";
  } else {
    os << "alpn = [";
  }
  auto alpn = c.cover.effective_alpn();
  for (std::size_t i = 0; i < alpn.size(); ++i) os << (i ? ", " : "") << q(alpn[i]);
  os << "]\n\n"
     << "[acme]\n"
     << "# Certificate from an ACME CA for the server's name (sni, else public_host), obtained and\n"
     << "# renewed by the server (tls-alpn-01 on its own port, which must be reachable as 443).\n"
     << "# \"\" = off: cert.pem/key.pem are yours (self-signed by init, pinned in links).\n"
     << "directory = " << q(c.acme.directory) << "\n"
     << "email = " << q(c.acme.email) << "\n"
     << "# Extra CA certificates (PEM) trusted for the directory's HTTPS, e.g. a test CA's.\n"
     << "ca_file = " << q(c.acme.ca_file) << "\n"
     << "renew_before_days = " << c.acme.renew_before_days << "\n\n"
     << "[cdn]\n"
     << "# transport = \"cdn\": the CDN's edge clients connect to (HOST:PORT; \"\" = public_host:443),\n"
     << "# the secret path prefix the CDN forwards here, whether the CDN speaks TLS to `listen`\n"
     << "# (certificate/key) or plain HTTP, and how clients upload: packet (each upload a whole\n"
     << "# request body: survives CDNs that buffer bodies) or stream (one long request).\n"
     << "front = " << q(c.cdn.front) << "\n"
     << "path = " << q(c.cdn.path) << "\n"
     << "origin_tls = " << (c.cdn.origin_tls ? "true" : "false") << "\n"
     << "upload = " << q(c.cdn.upload) << "\n";
  return os.str();
}

}  // namespace culvert
