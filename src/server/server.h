// Server: accepts TLS connections, decides on the first record whether the peer is a user
// (mux tunnel) or anyone else (relayed to the cover site), and dials destinations for users.
// Thread model: everything runs on one single-threaded io_context.
// Ownership: the Server owns the listener, the cover site and the user store; tunnels own
// themselves (each lives in its coroutine) and are closed by stop(). Its coroutines refer to it:
// after stop(), let the io_context run (or destroy the io_context) before destroying the Server.
#pragma once

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/udp.hpp>
#include <asio/steady_timer.hpp>
#include <memory>
#include <optional>
#include <set>
#include <unordered_map>

#include "config/server_config.h"
#include "mux/session.h"
#include "server/borrow.h"
#include "store/user_store.h"
#include "transport/tls/context.h"

namespace culvert {

class Server {
 public:
  Server(asio::io_context& io, ServerConfig config, std::unique_ptr<UserStore> store);
  ~Server();

  // Binds the public listener and the cover site; startup errors come back with a message.
  Result<void> start(std::string& message);
  asio::ip::tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }
  // Stops accepting and closes every tunnel and relay.
  void stop();

  std::size_t open_tunnels() const { return tunnels_.size(); }

 private:
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> handle_connection(asio::ip::tcp::socket socket);
  // transport = "borrow": users are answered in the target's shape, everyone else is relayed to it.
  asio::awaitable<void> handle_borrow_connection(asio::ip::tcp::socket socket);
  Result<void> start_tls_and_cover(std::string& message);
  Result<void> start_borrow(std::string& message);
  asio::awaitable<void> watch_target_tickets();
  asio::awaitable<void> run_tunnel(ByteStreamPtr tls, ByteSpan after_preamble, const User& user);
  asio::awaitable<void> handle_stream(std::unique_ptr<mux::Stream> stream, Destination destination);
  asio::awaitable<void> handle_association(std::unique_ptr<mux::Stream> association, std::string user);
  asio::awaitable<Result<asio::ip::tcp::socket>> connect_cover();
  std::optional<User> authenticate(ByteSpan first_record, const std::array<std::uint8_t, 32>& exporter);

  asio::io_context& io_;
  ServerConfig config_;
  std::unique_ptr<UserStore> store_;
  tls::ServerContext tls_;
  asio::ip::tcp::acceptor acceptor_;
  asio::ip::tcp::acceptor cover_acceptor_;
  asio::ip::tcp::endpoint cover_endpoint_;
  std::string cover_host_;
  std::uint16_t cover_port_ = 0;
  std::set<std::shared_ptr<mux::Session>> tunnels_;
  std::unique_ptr<BorrowGate> borrow_gate_;
  tls13::ServerCredentials borrow_credentials_;
  std::string target_host_;
  std::uint16_t target_port_ = 0;
  std::vector<std::size_t> target_ticket_records_;  // refreshed by watch_target_tickets()
  asio::steady_timer ticket_timer_;
  std::unordered_map<std::string, std::size_t> udp_associations_;  // per user name
  std::optional<asio::ip::udp::endpoint> dns_resolver_;            // for clients' tunnel DNS
  bool stopping_ = false;
};

}  // namespace culvert
