// The subcommands behind the CLI. Each returns the process exit code and prints its own errors.
#pragma once

#include <string>

namespace culvert::app {

struct InitOptions {
  std::string dir;
  std::string listen = "0.0.0.0:443";
  std::string public_host;
  std::string sni;
  std::string cover_upstream;
  std::string transport = "tls";
  std::string target;  // borrow: HOST:PORT of the borrowed site
  bool allow_private = false;
  bool qr = true;
};

int server_init(const InitOptions& options);
int server_run(const std::string& dir, const std::string& log_level);
int user_add(const std::string& dir, const std::string& name, bool qr);
int user_list(const std::string& dir);
int user_revoke(const std::string& dir, const std::string& name);
int user_link(const std::string& dir, const std::string& name, bool qr);
int client_run(const std::string& link, const std::string& listen, const std::string& log_level, bool padding);

// Sets up spdlog on stderr at `level` (debug, info, warn, error). Returns false for an unknown level.
bool setup_logging(const std::string& level);

}  // namespace culvert::app
