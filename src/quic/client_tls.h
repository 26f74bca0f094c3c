// The TLS 1.3 client of a QUIC connection (RFC 9001 §4), sans I/O: the same handshake as
// tls13::ClientStream (Chromium's hello, certificate or pin check, no PSK), but its messages travel
// in CRYPTO frames at three encryption levels instead of records, and it hands out the secrets of
// each level for ngtcp2 to install. The hello is the QUIC variant (tls13/client_hello.h) carrying
// the given transport parameters; the server's must come back in EncryptedExtensions.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/bytes.h"
#include "core/result.h"
#include "quic/tls_events.h"
#include "tls13/borrow_auth.h"
#include "tls13/certificate_check.h"
#include "tls13/key_schedule.h"
#include "tls13/key_share.h"
#include "tls13/messages.h"

namespace culvert::quic {

struct ClientTlsConfig {
  std::string server_name;
  std::vector<std::string> alpn = {"h3"};
  std::shared_ptr<const tls13::CertificateVerifier> verifier;  // required unless accept_any_certificate
  // Only for lab tools talking to a test server; never for a tunnel.
  bool accept_any_certificate = false;
  Bytes transport_parameters;  // the quic_transport_parameters body to send
  // A Culvert user: the proof travels in the hello's random (borrow_auth.h, HelloCarrier::random)
  // and its secret joins the key schedule, so only the server holding the static key can finish.
  std::optional<tls13::BorrowCredentials> user;
};

class ClientTls {
 public:
  explicit ClientTls(ClientTlsConfig config);
  ~ClientTls();
  ClientTls(const ClientTls&) = delete;
  ClientTls& operator=(const ClientTls&) = delete;

  // The ClientHello, at the Initial level.
  Result<void> start(TlsEvents& out);
  // CRYPTO data the peer sent at `level`, in order. On an error, alert() says which TLS alert the
  // connection closes with (RFC 9001 §4.8: as a CRYPTO_ERROR).
  Result<void> receive(Level level, ByteSpan data, TlsEvents& out);

  std::uint8_t alert() const { return alert_; }
  const Bytes& peer_transport_parameters() const { return peer_transport_parameters_; }
  const std::string& alpn() const { return alpn_; }
  std::uint16_t group() const { return group_; }
  // RFC 8446 §7.5 exporter with an empty context, 32 bytes, once the handshake is complete.
  Result<std::array<std::uint8_t, 32>> export_key(std::string_view label) const;

 private:
  enum class State { start, server_hello, encrypted_extensions, certificate, certificate_verify, finished, done };
  Result<void> on_message(Level level, const tls13::HandshakeMessage& message, TlsEvents& out);
  Result<void> on_server_hello(const tls13::HandshakeMessage& message, TlsEvents& out);
  Result<void> on_finished(const tls13::HandshakeMessage& message, TlsEvents& out);
  Result<void> refuse(std::uint8_t alert);
  Bytes transcript_hash() const;

  ClientTlsConfig config_;
  State state_ = State::start;
  tls13::HandshakeFramer framers_[3];
  std::vector<tls13::KeyShare> shares_;
  Bytes transcript_;
  const tls13::CipherSuite* suite_ = nullptr;
  tls13::HandshakeSecrets secrets_;
  tls13::X509Ptr leaf_;
  Bytes exporter_master_;
  Bytes user_secret_;  // joins the (EC)DHE secret when config_.user is set
  Bytes peer_transport_parameters_;
  std::string alpn_;
  std::uint16_t group_ = 0;
  std::uint8_t alert_ = 0;
};

}  // namespace culvert::quic
