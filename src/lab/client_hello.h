// TLS ClientHello parsing (RFC 8446 §4.1.2) and the JA3 and JA4 client fingerprints.
// JA3: salesforce/ja3 README. JA4: FoxIO, technical_details/JA4.md (its worked example is a unit
// test). Pure code: no I/O.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/result.h"

namespace culvert::lab {

struct ClientHello {
  std::uint16_t record_version = 0;
  std::uint16_t legacy_version = 0;
  std::size_t session_id_length = 0;
  std::vector<std::uint16_t> cipher_suites;  // wire order, GREASE included
  std::vector<std::uint16_t> extensions;     // wire order, GREASE included
  std::vector<std::uint16_t> supported_groups;
  std::vector<std::uint8_t> ec_point_formats;
  std::vector<std::uint16_t> signature_algorithms;
  std::vector<std::uint16_t> supported_versions;
  std::vector<std::string> alpn;
  std::string sni;
  std::size_t handshake_length = 0;  // the ClientHello message body
  Bytes quic_transport_parameters;   // extension 0x39, raw (empty over TCP)
  bool over_quic = false;            // carried in QUIC CRYPTO frames: JA4 starts with 'q'
};

// Parses a ClientHello from the start of a client's byte stream (one or more TLS records).
// Errc::truncated if the stream ends inside it, Errc::malformed if it is not a ClientHello.
Result<ClientHello> parse_client_hello(ByteSpan stream);

// Parses a bare ClientHello handshake message (type, 24-bit length, body), as QUIC carries it in
// CRYPTO frames. Errc::truncated if `message` is shorter than its length says.
Result<ClientHello> parse_client_hello_message(ByteSpan message);

bool is_grease(std::uint16_t value);

std::string ja3_string(const ClientHello& hello);
std::string ja3_hash(const ClientHello& hello);  // MD5 hex of ja3_string
std::string ja4(const ClientHello& hello);       // e.g. t13d1516h2_8daaf6152771_e5627efa2ab1
std::string ja4_raw(const ClientHello& hello);   // JA4_r: sorted lists instead of hashes

}  // namespace culvert::lab
