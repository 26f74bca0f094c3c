// The borrow transport's acceptor: users are answered in the borrowed site's shape, everyone
// else is relayed to the site itself (server/borrow.h has the pieces; docs/protocol.md the rules).
// A borrowing server has neither an OpenSSL context nor a cover site: the target is both.
// Thread model and ownership: as TransportAcceptor.
#pragma once

#include <asio/steady_timer.hpp>
#include <memory>
#include <vector>

#include "server/acceptors/acceptor.h"
#include "server/borrow.h"
#include "tls13/server_stream.h"

namespace culvert {

class BorrowAcceptor : public TransportAcceptor {
 public:
  explicit BorrowAcceptor(Server& server);
  Result<void> start(std::string& message) override;
  asio::awaitable<void> handle(asio::ip::tcp::socket socket) override;
  void stop() override;

 private:
  // The target's session tickets follow the client's Finished, which a borrowed handshake never
  // reaches: their sizes are learned from a full handshake now and then.
  asio::awaitable<void> watch_target_tickets();

  std::unique_ptr<BorrowGate> gate_;
  tls13::ServerCredentials credentials_;
  std::string target_host_;
  std::uint16_t target_port_ = 0;
  std::vector<std::size_t> target_ticket_records_;  // refreshed by watch_target_tickets()
  asio::steady_timer ticket_timer_;
  bool stopped_ = false;
};

}  // namespace culvert
