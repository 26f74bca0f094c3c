// Admin HTTP API: loopback by default, every request authenticated with the token in the data
// directory's admin.token (Authorization: Bearer TOKEN, compared in constant time). JSON for the
// user operations, the share link and a PNG QR code, and Prometheus /metrics. One request per
// connection, 10 s to send it, 64 KiB at most.
//
//   GET  /metrics                              Prometheus text
//   GET  /api/users                            every user (JSON array)
//   POST /api/users/NAME?quota=&expires=&tunnels=&notes=   add (201, with "link")
//   GET  /api/users/NAME                       one user
//   GET  /api/users/NAME/link                  with "link"
//   GET  /api/users/NAME/qr.png                the link as a QR code
//   POST /api/users/NAME/revoke | /rotate?grace=7d | /quota?bytes= | /expiry?when= | /tunnels?count= | /notes?text=
//
// Thread model: the server's executor. Owns its own handle on the user store.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <functional>

#include "admin/http_request.h"
#include "config/server_config.h"
#include "store/user_store.h"

namespace culvert::admin {

struct AdminOptions {
  std::string listen;  // "127.0.0.1:9190"
  std::string token;
  std::function<std::string()> metrics;  // the server's Prometheus text
};

class AdminServer {
 public:
  AdminServer(asio::io_context& io, ServerConfig config, std::unique_ptr<UserStore> store, AdminOptions options);
  Result<void> start(std::string& message);
  void stop();
  asio::ip::tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }

  // The response to one parsed request (public for tests).
  std::string respond(const HttpRequest& request);

 private:
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> serve(asio::ip::tcp::socket socket);
  std::string users_endpoint(const HttpRequest& request, const std::string& name, const std::string& action);

  asio::io_context& io_;
  ServerConfig config_;
  std::unique_ptr<UserStore> store_;
  AdminOptions options_;
  asio::ip::tcp::acceptor acceptor_;
  bool stopping_ = false;
};

// Reads DIR/admin.token, creating it (32 random bytes, base64url, mode 0600) if missing.
Result<std::string> load_or_create_token(const std::string& path);

}  // namespace culvert::admin
