// TcpStream: ByteStream over a connected TCP socket, plus small socket helpers.
#pragma once

#include <asio/ip/tcp.hpp>

#include "core/byte_stream.h"
#include "core/result.h"

namespace culvert {

class TcpStream final : public ByteStream {
 public:
  explicit TcpStream(asio::ip::tcp::socket socket) : socket_(std::move(socket)) {}

  asio::awaitable<IoResult> read_some(asio::mutable_buffer buffer) override;
  bool readable_now() override;
  asio::awaitable<std::tuple<std::error_code>> wait_readable() override;
  asio::awaitable<std::error_code> write_all(asio::const_buffer buffer) override;
  asio::awaitable<void> shutdown_send() override;
  void close() override;
  void reset() override;

  asio::ip::tcp::socket& socket() { return socket_; }

 private:
  asio::ip::tcp::socket socket_;
};

// Parses "host:port", "[v6]:port". Returns false on malformed input.
bool split_host_port(std::string_view text, std::string& host, std::uint16_t& port);

// Opens `acceptor` listening on `address` ("IP:PORT" or "[IPv6]:PORT"; port 0 lets the OS choose).
// On failure `message` says why, for the operator.
Result<void> listen_on(asio::ip::tcp::acceptor& acceptor, std::string_view address, std::string& message);

}  // namespace culvert
