#include "core/tcp_stream.h"

#include <sys/socket.h>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <cerrno>
#include <charconv>
#include "core/await.h"

namespace culvert {

asio::awaitable<IoResult> TcpStream::read_some(asio::mutable_buffer buffer) {
  auto [ec, n] = co_await socket_.async_read_some(buffer, use_tuple);
  co_return IoResult{ec, n};
}

bool TcpStream::readable_now() {
  // A peek, because asio's async_wait wakes only on a new readiness edge: bytes (or an end of
  // stream) may already be waiting. Single-threaded, so nothing runs between this and the wait.
  std::uint8_t probe;
  ssize_t n = ::recv(socket_.native_handle(), &probe, 1, MSG_PEEK | MSG_DONTWAIT);
  return n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
}

asio::awaitable<std::tuple<std::error_code>> TcpStream::wait_readable() {
  return socket_.async_wait(asio::ip::tcp::socket::wait_read, use_tuple);
}

asio::awaitable<std::error_code> TcpStream::write_all(asio::const_buffer buffer) {
  auto [ec, n] = co_await asio::async_write(socket_, buffer, use_tuple);
  co_return ec;
}

asio::awaitable<void> TcpStream::shutdown_send() {
  std::error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  co_return;
}

void TcpStream::close() {
  std::error_code ignored;
  socket_.close(ignored);
}

void TcpStream::reset() {
  std::error_code ignored;
  if (socket_.is_open()) socket_.set_option(asio::socket_base::linger(true, 0), ignored);
  socket_.close(ignored);
}

bool split_host_port(std::string_view text, std::string& host, std::uint16_t& port) {
  std::string_view h, p;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return false;
    h = text.substr(1, close - 1);
    p = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return false;
    h = text.substr(0, colon);
    p = text.substr(colon + 1);
    if (h.find(':') != std::string_view::npos) return false;  // bare IPv6 needs brackets
  }
  if (h.empty() || p.empty() || p.size() > 5) return false;
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
  if (ec != std::errc() || ptr != p.data() + p.size() || value > 65535) return false;
  host = std::string(h);
  port = static_cast<std::uint16_t>(value);
  return true;
}

Result<void> listen_on(asio::ip::tcp::acceptor& acceptor, std::string_view address, std::string& message) {
  std::string host;
  std::uint16_t port = 0;
  std::error_code ec;
  asio::ip::address ip;
  if (split_host_port(address, host, port)) ip = asio::ip::make_address(host, ec);
  if (host.empty() || ec) {
    message = "listen address must be IP:PORT, got \"" + std::string(address) + "\"";
    return fail(Errc::bad_config);
  }
  asio::ip::tcp::endpoint endpoint(ip, port);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    message = "cannot listen on " + std::string(address) + ": " + ec.message();
    return fail(ec);
  }
  return {};
}

}  // namespace culvert
