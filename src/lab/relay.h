// The lab relay: a TCP relay that sits where the censor sits, records each connection, classifies
// it with the passive rules, prints one JSON line per connection, and can act on the verdict as
// the GFW does: reset or drop, with the published probability for fully-encrypted candidates
// (Wu et al. 2023 §6.3), and residual blocking of the client for a while afterwards (§4.4).
// Thread model: one single-threaded io_context.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <chrono>
#include <cstdio>
#include <map>
#include <random>

#include "lab/classifier.h"

namespace culvert::lab {

enum class BlockAction {
  observe,  // classify and report only
  reset,    // tear both sides down with RST, as the GFW's forged resets do
  drop,     // stop forwarding client-to-server bytes (the connection hangs), as in Wu et al. §4.4
};

struct RelayOptions {
  std::string listen = "127.0.0.1:0";
  std::string to;
  BlockAction action = BlockAction::observe;
  double block_probability = 0.263;    // for fully-encrypted candidates; 1.0 makes tests deterministic
  std::uint64_t seed = 0;              // 0: from the OS
  std::chrono::seconds residual{180};  // residual blocking of the client after a block (0: none)
  ClassifierOptions classifier;
  std::string record_dir;                       // write each connection as DIR/conn-N.flow
  std::size_t max_recorded_bytes = 256 * 1024;  // per direction
  std::chrono::seconds idle{120};
  std::FILE* out = stdout;
};

class Relay {
 public:
  Relay(asio::io_context& io, RelayOptions options);
  Result<void> start(std::string& message);
  asio::ip::tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }
  void stop();

 private:
  struct Connection;
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> handle(asio::ip::tcp::socket client, std::uint64_t id);
  asio::awaitable<void> pump(Connection& c, bool client_to_server);
  bool decide_block(const Classification& first_packet_rules, std::string& why);
  void report(const Connection& c);

  asio::io_context& io_;
  RelayOptions options_;
  asio::ip::tcp::acceptor acceptor_;
  asio::ip::tcp::endpoint upstream_;
  std::mt19937_64 random_;
  std::map<asio::ip::address, std::chrono::steady_clock::time_point> residual_until_;
  std::uint64_t next_id_ = 1;
  bool stopping_ = false;
};

}  // namespace culvert::lab
