// Client: the local proxy. Listens on a loopback port for SOCKS5 and HTTP proxy requests and
// carries each over the tunnel pool to the server in the share link.
// Thread model: one single-threaded io_context.
#pragma once

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

#include "client/tunnel_pool.h"
#include "inbound/session.h"

namespace culvert {

struct ClientOptions {
  std::string listen = "127.0.0.1:1080";
  TunnelPoolOptions pool;
  InboundOptions inbound;
};

class Client {
 public:
  Client(asio::io_context& io, ShareLink link, ClientOptions options);
  Result<void> start(std::string& message);
  asio::ip::tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }
  void stop();

 private:
  asio::awaitable<void> accept_loop();
  asio::awaitable<Result<ByteStreamPtr>> open_stream(const Destination& destination, ByteSpan first_data);

  asio::io_context& io_;
  ClientOptions options_;
  TunnelPool pool_;
  asio::ip::tcp::acceptor acceptor_;
  bool stopping_ = false;
};

}  // namespace culvert
