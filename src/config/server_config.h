// The server's TOML configuration (DIR/config.toml), parsed into plain structs and validated.
// Every key and its default is documented in docs/configuration.md and in the file `server init`
// writes. Relative paths are relative to the data directory.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"

namespace culvert {

struct CoverConfig {
  enum class Mode { builtin, upstream };
  Mode mode = Mode::builtin;
  std::string upstream;  // host:port of a plain-HTTP web server, for Mode::upstream
  // host:port of the same web server's own TLS port (Mode::upstream): bytes that are not TLS go
  // there raw, so that web server itself answers them ("" = the built-in imitation of nginx).
  std::string upstream_tls;
  // What the cover really speaks; empty = h2 and http/1.1 for builtin, http/1.1 for upstream.
  std::vector<std::string> alpn;
  std::vector<std::string> effective_alpn() const {
    if (!alpn.empty()) return alpn;
    if (mode == Mode::builtin) return {"h2", "http/1.1"};
    return {"http/1.1"};
  }
};

// Certificates from an ACME CA (Let's Encrypt and the like) for the server's name, obtained and
// renewed by the server itself with the tls-alpn-01 challenge on its own port.
struct AcmeConfig {
  std::string directory;  // the CA's directory URL; "" = off (the certificate files are the operator's)
  std::string email;      // account contact, "" for none
  std::string ca_file;    // extra CA certificates to trust for the directory's HTTPS (tests: pebble)
  int renew_before_days = 30;
  std::string account_key = "acme-account.key";
};

// transport = "cdn": clients reach the server through a CDN (or any reverse proxy) that forwards
// the requests at the secret path to `listen`; everything else there is the cover site.
struct CdnConfig {
  std::string front;              // HOST:PORT links send clients to (the CDN's edge); "" = public_host:443
  std::string path;               // the secret path prefix, "/..." (init makes a random one)
  bool origin_tls = false;        // the CDN connects to `listen` with TLS (certificate/key) instead of plain HTTP
  std::string upload = "packet";  // how clients upload: "packet" (survives body buffering) or "stream"
};

inline constexpr std::string_view kLetsEncryptDirectory = "https://acme-v02.api.letsencrypt.org/directory";

struct ServerConfig {
  std::string data_dir;
  std::string listen = "0.0.0.0:443";
  std::string public_host;        // host put into share links
  std::string sni;                // SNI clients send; empty for none (IP address servers)
  std::string transport = "tls";  // "tls" (own certificate), "borrow" (a real site's identity), "cdn"
  std::string target;             // borrow: HOST:PORT of the site whose TLS identity is borrowed
  std::string certificate = "cert.pem";
  std::string key = "key.pem";
  bool certificate_pinned = true;  // links pin the certificate's SPKI (self-signed)
  std::string static_key = "static.key";
  std::string store = "sqlite";  // "sqlite" (users_db) or "postgres" (servers sharing users)
  std::string users_db = "users.db";
  std::string postgres;        // libpq connection string, for store = "postgres"
  bool allow_private = false;  // let users reach loopback/private destinations
  CoverConfig cover;
  AcmeConfig acme;
  CdnConfig cdn;
  // Users' subscriptions are served under this path of the cover site ("" = none).
  std::string subscription_path = "/s";
  // TLS handshake limit; nginx's default client_header_timeout, which bounds its handshake too.
  std::chrono::milliseconds handshake_timeout{60000};
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::milliseconds stream_idle_timeout{300000};
  std::string log_level = "info";
  // Admin HTTP API and /metrics (token in admin.token); "" = off. Loopback only unless you put a
  // TLS-terminating proxy with its own authentication in front of it.
  std::string admin_listen = "127.0.0.1:9190";
  // Started as root: after binding, run as this user (the data directory is handed to it). "" =
  // stay root (warned). systemd's unit runs as this user from the start instead.
  std::string run_as;
  std::chrono::milliseconds drain_timeout{30000};  // SIGTERM: how long open streams may finish
  // TCP congestion control for client tunnels (per socket); "" keeps the system default. BBR holds
  // its rate on lossy long paths where loss-based algorithms collapse.
  std::string congestion_control = "bbr";
  // UDP (datagram associations): an association closes after this long without a datagram either
  // way; a user holds at most this many at once (each is one UDP socket on the server).
  std::chrono::milliseconds udp_idle_timeout{60000};
  std::size_t max_udp_associations_per_user = 256;
  // Limits: tunnels at once (0: none), per user unless the user has their own (0: none), streams
  // per tunnel. Past a limit a valid user's new tunnel is closed after the handshake (counted).
  std::size_t max_tunnels = 0;
  std::size_t max_tunnels_per_user = 0;
  std::size_t max_streams_per_tunnel = 4096;
  // Memory budget (MiB) for received bytes waiting for their destinations, over all streams; past
  // it, new streams and tunnels are refused (counted) until it drains. 0: none (each stream is
  // still bounded by its 8 MiB window).
  std::size_t memory_budget_mb = 0;
  // How often the users of open tunnels are checked again (revoked, expired, over quota: their
  // tunnels close) and how often usage is written to the store.
  std::chrono::milliseconds user_check_interval{2000};
  std::chrono::milliseconds usage_flush_interval{10000};
  // DNS resolver for clients' tunnel-routed names (HOST:PORT); "" = the first nameserver of the
  // server's /etc/resolv.conf.
  std::string dns_resolver;

  std::string path(const std::string& relative) const;
};

// Reads and validates DIR/config.toml. Errors carry a message for the operator in `message`.
Result<ServerConfig> load_server_config(const std::string& data_dir, std::string& message);
// The same from text already read (`source` names it in messages).
Result<ServerConfig> parse_server_config(std::string_view text, const std::string& data_dir, const std::string& source,
                                         std::string& message);
std::string render_server_config(const ServerConfig& config);

}  // namespace culvert
