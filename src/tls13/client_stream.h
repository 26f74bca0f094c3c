// ClientStream: Culvert's own TLS 1.3 client as a ByteStream over a TCP socket. Its first flight
// is Chromium's ClientHello (client_hello.h); the rest is RFC 8446 for a client without PSK or
// early data: HelloRetryRequest, EncryptedExtensions, Certificate or brotli CompressedCertificate,
// CertificateVerify, Finished, KeyUpdate both ways, NewSessionTicket (checked, then dropped, as no
// session is ever resumed), alerts, and the middlebox-compatibility ChangeCipherSpec.
// Thread model: one single-threaded executor; one reader and one writer may run at once.
#pragma once

#include <array>
#include <asio/ip/tcp.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/byte_stream.h"
#include "core/result.h"
#include "tls13/borrow_auth.h"
#include "tls13/certificate_check.h"
#include "tls13/client_hello.h"
#include "tls13/key_schedule.h"
#include "tls13/key_share.h"
#include "tls13/messages.h"
#include "tls13/record.h"
#include "tls13/record_channel.h"

namespace culvert::tls13 {

struct ClientConfig {
  std::string server_name;                              // SNI; empty sends none
  std::shared_ptr<const CertificateVerifier> verifier;  // required unless `borrow` is set
  std::vector<std::string> alpn = {"h2", "http/1.1"};
  std::optional<BorrowCredentials> borrow;
  // Accept any certificate. Only for the server's own look at its borrowed target (to learn the
  // shape of its session tickets); never for a tunnel.
  bool accept_any_certificate = false;
};

// What a finished handshake agreed on, for logs and tests.
struct HandshakeSummary {
  std::uint16_t cipher_suite = 0;
  std::uint16_t group = 0;
  bool hello_retry = false;
  bool compressed_certificate = false;
  std::string alpn;
};

class ClientStream final : public ByteStream {
 public:
  ClientStream(asio::ip::tcp::socket socket, ClientConfig config);
  ~ClientStream() override;

  // Runs the handshake; no time limit of its own. Errc::pin_mismatch when the pinned key differs.
  asio::awaitable<std::error_code> handshake();

  asio::awaitable<IoResult> read_some(asio::mutable_buffer buffer) override { return channel_.read_some(buffer); }
  asio::awaitable<std::error_code> write_all(asio::const_buffer buffer) override { return channel_.write_all(buffer); }
  // Sends close_notify and a TCP FIN; reading goes on.
  asio::awaitable<void> shutdown_send() override { return channel_.shutdown_send(); }
  void close() override { channel_.close(); }
  void reset() override {
    std::error_code ignored;
    if (channel_.socket().is_open()) channel_.socket().set_option(asio::socket_base::linger(true, 0), ignored);
    channel_.close();
  }

  // RFC 8446 §7.5 exporter with an empty context, 32 bytes.
  Result<std::array<std::uint8_t, 32>> export_key(std::string_view label) const;
  const HandshakeSummary& summary() const { return summary_; }
  // Asks the peer for new keys on the next write (KeyUpdate with update_requested).
  void request_key_update() { channel_.request_key_update(); }
  asio::ip::tcp::socket& socket() { return channel_.socket(); }
  const std::vector<std::size_t>& ticket_records() const { return channel_.ticket_records(); }

 private:
  Bytes transcript_hash() const;

  RecordChannel channel_;
  ClientConfig config_;
  HandshakeSummary summary_;
  const CipherSuite* suite_ = nullptr;
  Bytes transcript_;
  Bytes exporter_master_;
};

}  // namespace culvert::tls13
