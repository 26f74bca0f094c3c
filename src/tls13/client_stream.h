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
#include "tls13/certificate_check.h"
#include "tls13/client_hello.h"
#include "tls13/key_schedule.h"
#include "tls13/key_share.h"
#include "tls13/messages.h"
#include "tls13/record.h"

namespace culvert::tls13 {

struct ClientConfig {
  std::string server_name;  // SNI; empty sends none
  std::shared_ptr<const CertificateVerifier> verifier;
  std::vector<std::string> alpn = {"h2", "http/1.1"};
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

  asio::awaitable<IoResult> read_some(asio::mutable_buffer buffer) override;
  asio::awaitable<std::error_code> write_all(asio::const_buffer buffer) override;
  // Sends close_notify and a TCP FIN; reading goes on.
  asio::awaitable<void> shutdown_send() override;
  void close() override;

  // RFC 8446 §7.5 exporter with an empty context, 32 bytes.
  Result<std::array<std::uint8_t, 32>> export_key(std::string_view label) const;
  const HandshakeSummary& summary() const { return summary_; }
  // Asks the peer for new keys on the next write (KeyUpdate with update_requested).
  void request_key_update() {
    key_update_to_send_ = true;
    want_peer_update_ = true;
  }
  asio::ip::tcp::socket& socket() { return socket_; }

 private:
  struct Record {
    std::uint8_t type;
    ByteSpan plaintext;
  };
  asio::awaitable<Result<Record>> next_record();
  asio::awaitable<Result<HandshakeMessage>> next_handshake_message();
  asio::awaitable<std::error_code> write_raw(ByteSpan bytes);
  asio::awaitable<std::error_code> fail_handshake(std::uint8_t alert, Errc error);
  asio::awaitable<std::error_code> run_handshake();
  Result<void> handle_post_handshake(const HandshakeMessage& message);
  Bytes transcript_hash() const;
  void queue_alert(std::uint8_t description, Bytes& out);

  asio::ip::tcp::socket socket_;
  ClientConfig config_;
  HandshakeSummary summary_;
  const CipherSuite* suite_ = nullptr;
  Bytes transcript_;
  std::unique_ptr<RecordProtection> read_protection_;
  std::unique_ptr<RecordProtection> write_protection_;
  Bytes exporter_master_;
  HandshakeFramer framer_;

  Bytes input_;                  // raw bytes from the socket
  std::size_t input_start_ = 0;  // first unconsumed byte of input_
  Bytes pending_;                // application plaintext not yet returned
  std::size_t pending_start_ = 0;
  Bytes write_buffer_;

  bool handshake_done_ = false;
  bool peer_closed_ = false;
  bool sent_close_notify_ = false;
  bool key_update_to_send_ = false;
  bool want_peer_update_ = false;
};

}  // namespace culvert::tls13
