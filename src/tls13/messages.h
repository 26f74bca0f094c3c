// Parsers for the TLS 1.3 handshake messages a client receives (and the ClientHello a server
// receives) (RFC 8446 §4), and the framer that
// cuts a stream of handshake-record plaintext into messages. Every parser takes the message body
// (after the 4-byte header), checks every length, and reports malformed or unexpected content as
// an error; none allocates more than the input justifies. Also the encoders of the same messages.
// Pure code: no I/O.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/result.h"

namespace culvert::tls13 {

namespace msg {
inline constexpr std::uint8_t kClientHello = 1;
inline constexpr std::uint8_t kServerHello = 2;
inline constexpr std::uint8_t kNewSessionTicket = 4;
inline constexpr std::uint8_t kEncryptedExtensions = 8;
inline constexpr std::uint8_t kCertificate = 11;
inline constexpr std::uint8_t kCertificateRequest = 13;
inline constexpr std::uint8_t kCertificateVerify = 15;
inline constexpr std::uint8_t kFinished = 20;
inline constexpr std::uint8_t kKeyUpdate = 24;
inline constexpr std::uint8_t kCompressedCertificate = 25;
inline constexpr std::uint8_t kMessageHash = 254;
}  // namespace msg

// Largest handshake message accepted (certificate chains are the big ones).
inline constexpr std::size_t kMaxHandshakeMessage = 256 * 1024;

struct HandshakeMessage {
  std::uint8_t type;
  Bytes raw;  // header and body, as hashed into the transcript
  ByteSpan body() const { return ByteSpan(raw).subspan(4); }
};

// Collects handshake plaintext across records and hands out whole messages.
class HandshakeFramer {
 public:
  void append(ByteSpan plaintext) { buffer_.insert(buffer_.end(), plaintext.begin(), plaintext.end()); }
  // The next whole message, nothing if more bytes are needed, an error if it is too large.
  Result<std::optional<HandshakeMessage>> next();
  bool empty() const { return buffer_.empty(); }

 private:
  Bytes buffer_;
};

struct ClientHelloInfo {
  std::array<std::uint8_t, 32> random{};
  Bytes session_id;
  std::vector<std::uint16_t> cipher_suites;
  std::vector<std::pair<std::uint16_t, Bytes>> key_shares;  // group, key_exchange
  std::vector<std::uint16_t> supported_groups;
  std::vector<std::string> alpn;
  std::string server_name;
  std::vector<std::uint16_t> extensions;
  bool offers_tls13 = false;
  std::optional<Bytes> quic_transport_parameters;  // present over QUIC (RFC 9001 §8.2)
};
// A ClientHello body, as a server reads it: every length checked, duplicates refused.
Result<ClientHelloInfo> parse_client_hello(ByteSpan body);

struct ServerHello {
  bool hello_retry_request = false;
  std::array<std::uint8_t, 32> random{};
  Bytes session_id_echo;
  std::uint16_t cipher_suite = 0;
  std::uint16_t key_share_group = 0;  // the group of the share, or HRR's selected group
  Bytes key_share;                    // empty for an HRR
  Bytes cookie;                       // HRR only
  std::vector<std::uint16_t> extensions;
};
// Errc::unsupported when the server chose a version below TLS 1.3.
Result<ServerHello> parse_server_hello(ByteSpan body);

struct EncryptedExtensions {
  std::string alpn;  // empty if none was selected
  std::vector<std::uint16_t> extensions;
  Bytes quic_transport_parameters;  // over QUIC (RFC 9001 §8.2); the caller refuses it over TCP
};
Result<EncryptedExtensions> parse_encrypted_extensions(ByteSpan body);

// DER certificates, leaf first.
Result<std::vector<Bytes>> parse_certificate(ByteSpan body);
// A CompressedCertificate (RFC 8879) with brotli, inflated to the Certificate body it carries.
Result<Bytes> decompress_certificate(ByteSpan body);

struct CertificateVerify {
  std::uint16_t scheme = 0;
  Bytes signature;
};
Result<CertificateVerify> parse_certificate_verify(ByteSpan body);

// Checks a NewSessionTicket's shape; Culvert does not resume, so the ticket itself is dropped.
Result<void> parse_new_session_ticket(ByteSpan body);
// KeyUpdate: returns whether the peer asks us to update too.
Result<bool> parse_key_update(ByteSpan body);

// Encoders, for our own flight (Finished) and for servers built on this code (tests, tools).
Bytes encode_handshake_message(std::uint8_t type, ByteSpan body);
// The server's ALPN extension (type, length, a one-name list) into an extension list being written.
void write_selected_alpn(Writer& w, std::string_view protocol);
// A Certificate body for a chain of DER certificates, leaf first, no extensions.
Bytes encode_certificate(const std::vector<Bytes>& chain);
// A CompressedCertificate body (RFC 8879, brotli) carrying a Certificate body.
Bytes compress_certificate(ByteSpan certificate_body);

// The SHA-256 of the special "HelloRetryRequest" random value (RFC 8446 §4.1.3).
extern const std::array<std::uint8_t, 32> kHelloRetryRequestRandom;

}  // namespace culvert::tls13
