// TLS handshakes per second on loopback, client side: Culvert's own TLS 1.3 client (Chromium's
// ClientHello, with the X25519MLKEM768 share it generates for every connection) against OpenSSL's
// client, both to the same OpenSSL server running in a second thread. CPU time is the client
// thread's; real time includes the server's share of each handshake.
//   build/bench/culvert_handshake_bench [--benchmark_repetitions=5]
#include <benchmark/benchmark.h>
#include <openssl/ssl.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "core/await.h"
#include "tls13/client_stream.h"
#include "transport/tls/certificate.h"
#include "transport/tls/context.h"

namespace culvert {
namespace {

// An OpenSSL TLS server on 127.0.0.1 in its own thread: accept, handshake, close, repeat.
class Server {
 public:
  Server() {
    auto cert = tls::generate_self_signed("127.0.0.1", 30).value();
    dir_ = std::filesystem::temp_directory_path() / ("culvert-hsbench-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "cert.pem") << cert.certificate_pem;
    std::ofstream(dir_ / "key.pem") << cert.key_pem;
    pin = cert.spki_sha256;
    tls::ServerTlsOptions options;
    options.certificate_file = (dir_ / "cert.pem").string();
    options.key_file = (dir_ / "key.pem").string();
    ctx_ = tls::make_server_context(options).value();
    SSL_CTX_set_num_tickets(ctx_.ctx.get(), 0);
    acceptor_.open(asio::ip::tcp::v4());
    acceptor_.bind({asio::ip::make_address("127.0.0.1"), 0});
    acceptor_.listen(64);
    port = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { loop(); });
  }
  ~Server() {
    stop_ = true;
    // Wake the blocking accept with one last connection.
    asio::ip::tcp::socket s(io_);
    std::error_code ignored;
    s.connect({asio::ip::make_address("127.0.0.1"), port}, ignored);
    thread_.join();
    std::filesystem::remove_all(dir_);
  }
  std::uint16_t port = 0;
  std::array<std::uint8_t, 32> pin{};

 private:
  void loop() {
    while (!stop_) {
      std::error_code ec;
      asio::ip::tcp::socket s(io_);
      acceptor_.accept(s, ec);
      if (ec || stop_) continue;
      s.set_option(asio::ip::tcp::no_delay(true), ec);
      SSL* ssl = SSL_new(ctx_.ctx.get());
      SSL_set_fd(ssl, s.native_handle());
      if (SSL_accept(ssl) == 1) {
        char byte;
        SSL_read(ssl, &byte, 1);  // the client's one byte proves its Finished arrived
      }
      SSL_free(ssl);
    }
  }
  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_{io_};
  tls::ServerContext ctx_;
  std::filesystem::path dir_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
};

Server& server() {
  static Server s;
  return s;
}

void BM_CulvertClientHandshake(benchmark::State& state) {
  auto& srv = server();
  tls13::ClientConfig config;
  config.verifier = tls13::CertificateVerifier::create({"127.0.0.1", srv.pin}).value();
  asio::io_context io;
  for (auto _ : state) {
    bool ok = false;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          asio::ip::tcp::socket socket(io);
          auto [ec] = co_await socket.async_connect({asio::ip::make_address("127.0.0.1"), srv.port}, use_tuple);
          if (ec) co_return;
          socket.set_option(asio::ip::tcp::no_delay(true), ec);
          tls13::ClientStream client(std::move(socket), config);
          if (co_await client.handshake()) co_return;
          std::uint8_t byte = 1;
          ok = !co_await client.write_all(asio::buffer(&byte, 1));
        },
        asio::detached);
    io.run();
    io.restart();
    if (!ok) state.SkipWithError("handshake failed");
  }
  state.counters["handshakes/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_CulvertClientHandshake)->UseRealTime()->MinTime(2.0);

void BM_OpenSslClientHandshake(benchmark::State& state) {
  auto& srv = server();
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);  // the pin is checked by Culvert's side only
  asio::io_context io;
  for (auto _ : state) {
    asio::ip::tcp::socket s(io);
    std::error_code ec;
    s.connect({asio::ip::make_address("127.0.0.1"), srv.port}, ec);
    s.set_option(asio::ip::tcp::no_delay(true), ec);
    SSL* ssl = SSL_new(ctx);
    SSL_set_fd(ssl, s.native_handle());
    bool ok = !ec && SSL_connect(ssl) == 1 && SSL_write(ssl, "x", 1) == 1;
    SSL_free(ssl);
    if (!ok) state.SkipWithError("handshake failed");
  }
  SSL_CTX_free(ctx);
  state.counters["handshakes/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_OpenSslClientHandshake)->UseRealTime()->MinTime(2.0);

}  // namespace
}  // namespace culvert
