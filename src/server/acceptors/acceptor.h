// The server's side of the transport seam: one TransportAcceptor per server, chosen by the
// configuration's transport (make_acceptor, server/acceptors/registry.cpp). The Server owns the
// listener, the users, the limits and the tunnels; the acceptor decides, for each accepted
// connection, whether it carries a user's tunnel (then Server::run_tunnel) or is anyone else's
// (then the cover, or the borrowed site, answers it).
// Thread model: the server's io_context. Ownership: the Server owns its acceptor; the acceptor's
// coroutines refer to the Server (the Server's own lifetime rule covers them).
#pragma once

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <memory>
#include <string>

#include "core/result.h"

namespace culvert {

class Server;

class TransportAcceptor {
 public:
  explicit TransportAcceptor(Server& server) : server_(server) {}
  virtual ~TransportAcceptor() = default;
  TransportAcceptor(const TransportAcceptor&) = delete;
  TransportAcceptor& operator=(const TransportAcceptor&) = delete;

  // Before the listener opens: certificates, keys, the cover. An error names what is wrong.
  virtual Result<void> start(std::string& message) = 0;
  // SIGHUP, with the server's new configuration already in place. An error keeps the old state
  // (the Server then restores its old configuration).
  virtual Result<void> reload(std::string& message) { return {}; }
  // One accepted connection, from its first byte to its end.
  virtual asio::awaitable<void> handle(asio::ip::tcp::socket socket) = 0;
  // Every user_check_interval (certificate files changed, and the like).
  virtual void tick() {}
  virtual void stop() {}

 protected:
  Server& server_;
};

// The registry's server half: the acceptor for server.config().transport.
std::unique_ptr<TransportAcceptor> make_acceptor(Server& server);

}  // namespace culvert
