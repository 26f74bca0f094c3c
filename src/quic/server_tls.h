// The TLS 1.3 server of a QUIC connection (RFC 9001 §4), sans I/O: the mirror of ClientTls. It
// answers a ClientHello in CRYPTO frames at the Initial level with a ServerHello, then
// EncryptedExtensions (ALPN and its transport parameters), Certificate, CertificateVerify and
// Finished at the Handshake level, and checks the client's Finished. It chooses as the TCP cover's
// OpenSSL 3.0 does under Debian's nginx.conf (suites in the server's order: AES-256-GCM first;
// key shares in the client's order among X25519, P-256 and P-384, no ML-KEM), so that every
// connection — a user's or a prober's, over QUIC or TCP — meets the same server. A
// caller-supplied hook may add a secret to the key schedule (a user proven inside the ClientHello,
// quic/hello_auth.h); a client without that secret cannot finish.
// Once the client's Finished checks out it sends two NewSessionTickets at the 1-RTT level, as
// OpenSSL does (no resumption: their tickets are random bytes of OpenSSL's ticket size).
// A client without a usable key share gets a HelloRetryRequest for the first of the server's
// groups it supports, as OpenSSL sends one. Not implemented: resumption and 0-RTT, client
// certificates, cookies.
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/result.h"
#include "quic/tls_events.h"
#include "tls13/certificate_check.h"
#include "tls13/key_schedule.h"
#include "tls13/messages.h"

namespace culvert::quic {

struct ServerTlsConfig {
  std::shared_ptr<const tls13::ServerCredentials> identity;
  std::vector<std::string> alpn = {"h3"};  // served, in our preference
  Bytes transport_parameters;              // the quic_transport_parameters body to send
  // Called once, with the ClientHello message (header included) and its parsed form, before the
  // key schedule: the secret appended to the (EC)DHE secret, or empty for none.
  std::function<Bytes(ByteSpan client_hello, const tls13::ClientHelloInfo& info)> extra_secret;
};

class ServerTls {
 public:
  explicit ServerTls(ServerTlsConfig config);
  ~ServerTls();
  ServerTls(const ServerTls&) = delete;
  ServerTls& operator=(const ServerTls&) = delete;

  // CRYPTO data the client sent at `level`, in order. On an error, alert() says which TLS alert
  // the connection closes with (as a CRYPTO_ERROR).
  Result<void> receive(Level level, ByteSpan data, TlsEvents& out);
  // Replaces the configured transport parameters; for a QUIC stack that can only encode its own
  // once it has read the client's first packet (ngtcp2's chosen version). Before the ClientHello.
  void set_transport_parameters(Bytes parameters) { config_.transport_parameters = std::move(parameters); }

  std::uint8_t alert() const { return alert_; }
  const Bytes& peer_transport_parameters() const { return peer_transport_parameters_; }
  const std::string& alpn() const { return alpn_; }
  const std::string& server_name() const { return server_name_; }
  std::uint16_t group() const { return group_; }
  std::uint16_t cipher_suite() const { return suite_ ? suite_->id : 0; }
  // Whether the hook added a secret: the client proved it holds one (once complete).
  bool extra_secret_used() const { return extra_secret_used_; }
  bool complete() const { return state_ == State::done; }
  // RFC 8446 §7.5 exporter with an empty context, 32 bytes, once the handshake is complete.
  Result<std::array<std::uint8_t, 32>> export_key(std::string_view label) const;

 private:
  enum class State { client_hello, second_client_hello, finished, done };
  Result<void> on_client_hello(const tls13::HandshakeMessage& message, TlsEvents& out);
  Result<void> on_finished(const tls13::HandshakeMessage& message, TlsEvents& out);
  Result<void> refuse(std::uint8_t alert);

  ServerTlsConfig config_;
  State state_ = State::client_hello;
  tls13::HandshakeFramer framers_[3];
  const tls13::CipherSuite* suite_ = nullptr;
  std::uint16_t retry_suite_ = 0;  // the suite a HelloRetryRequest named: the second hello must keep it
  Bytes transcript_prefix_;        // message_hash(ClientHello1) || HelloRetryRequest, after a retry
  Bytes expected_client_finished_;
  Bytes exporter_master_;
  Bytes peer_transport_parameters_;
  std::string alpn_;
  std::string server_name_;
  std::uint16_t group_ = 0;
  std::uint8_t alert_ = 0;
  bool extra_secret_used_ = false;
};

}  // namespace culvert::quic
