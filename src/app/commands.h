// The subcommands behind the CLI. Each returns the process exit code and prints its own errors.
#pragma once

#include <memory>
#include <string>

#include "config/server_config.h"
#include "store/user_store.h"

namespace culvert::app {

struct InitOptions {
  std::string dir;
  std::string listen = "0.0.0.0:443";
  std::string public_host;
  std::string sni;
  std::string cover_upstream;
  std::string cover_upstream_tls;  // that web server's own TLS port, for bytes that are not TLS
  std::string transport = "tls";
  std::string target;             // borrow: HOST:PORT of the borrowed site
  std::string front;              // cdn: HOST:PORT of the CDN edge clients connect to
  bool origin_tls = false;        // cdn: the CDN reaches `listen` over TLS (else plain HTTP)
  std::string upload = "packet";  // cdn: how clients upload (packet or stream)
  bool allow_private = false;
  bool qr = true;
  // tls transport with a DNS name: the certificate comes from an ACME CA (Let's Encrypt unless
  // `acme_directory` says otherwise) unless `no_acme`.
  bool no_acme = false;
  std::string admin_listen = "127.0.0.1:9190";  // "" turns the admin API off
  std::string acme_directory;
  std::string acme_email;
  std::string acme_ca_file;
};

int server_init(const InitOptions& options);
int server_run(const std::string& dir, const std::string& log_level);
// `culvert client`: a share link, or a configuration file; flags override the file.
struct ClientArgs {
  std::string link;
  std::string config_file;
  std::string subscription;  // a subscription URL (alone, or with a link or --config)
  std::string listen;
  std::string log_level;
  std::string padding;
  std::string profile;
  std::string dns_listen;
  bool fake_ip = false;
  std::string geoip;
  std::size_t max_tunnels = 0;         // 0: the config's (default 4)
  std::size_t streams_per_tunnel = 0;  // 0: the config's (default 128)
  bool check = false;                  // validate the link or file and exit, without starting
};
int client_run(const ClientArgs& args);
// `culvert server check --dir D`: the configuration, certificate and key, static key and store are
// loaded as `server run` would load them; prints what is wrong, or a summary. Nothing is started.
int server_check(const std::string& dir);

// `culvert server fleet add|remove|list`: `link` empty with add means this server's own link;
// `host` (HOST[:PORT]), when given, replaces the link's address.
int fleet_command(const std::string& dir, const std::string& action, const std::string& name, const std::string& link,
                  const std::string& host);

// The data directory's config.toml, or false after printing why.
bool load_config(const std::string& dir, ServerConfig& config);
// The user store the configuration names (SQLite or PostgreSQL), or null after printing why.
std::unique_ptr<UserStore> open_store(const ServerConfig& config);

// Sets up spdlog on stderr at `level` (debug, info, warn, error). Returns false for an unknown level.
bool setup_logging(const std::string& level);

}  // namespace culvert::app
