// Chromium's framing of a client's Initial packets, applied to the ones ngtcp2 writes. A censor
// that decrypts Initials (anyone can: the keys come from the connection id) sees how the
// ClientHello is cut: ngtcp2 fills a packet with one CRYPTO frame, Chromium ("chaos protection")
// cuts its CRYPTO data into several frames per packet and scatters PING frames and PADDING runs
// among them in random order. The shaper opens each datagram that is a lone Initial carrying
// CRYPTO data, re-frames it that way and grows it to the datagram size Chromium sends; the CRYPTO
// bytes each packet carries and its packet number stay as ngtcp2 chose them, so ngtcp2's loss
// recovery still knows what a lost packet held. ngtcp2 must write such datagrams a little short
// (kUnshapedDatagramSize) to leave room for the extra frame headers.
// Chromium's first Initial is packet number 1, ngtcp2's 0: every client Initial leaves with its
// number plus one, and the server's Initials have the ACK frames that answer them moved back by
// one before ngtcp2 reads them (same encoded length, so the datagram keeps its size).
#pragma once

#include <cstdint>

#include "core/bytes.h"
#include "core/result.h"
#include "quic/packet_protection.h"

namespace culvert::quic {

// Chromium's client datagram size during the handshake, and what ngtcp2 is asked to write while
// the shaper runs (the least a client Initial datagram may be, RFC 9000 §14.1).
inline constexpr std::size_t kShapedDatagramSize = 1250;
inline constexpr std::size_t kUnshapedDatagramSize = 1200;

class InitialShaper {
 public:
  // `client_destination_id`: the Destination Connection ID of the client's first Initial (its
  // keys protect every client Initial; a Retry changes it: call rekey()).
  static Result<InitialShaper> create(ByteSpan client_destination_id, std::uint32_t version);
  Result<void> rekey(ByteSpan client_destination_id, std::uint32_t version);

  // The datagram to send instead of `datagram`: its leading client Initial renumbered, and
  // re-framed and grown if it is a lone Initial with CRYPTO data; other datagrams as they are.
  Bytes shape(ByteSpan datagram);
  // A datagram from the server, before ngtcp2 reads it: the acknowledgements in its leading
  // Initial moved back to ngtcp2's numbering. Untouched when it holds no such Initial.
  void restore(Bytes& datagram);

 private:
  InitialShaper() = default;
  PacketKeys keys_, server_keys_;
  std::uint32_t version_ = kVersion1;
  std::int64_t largest_ = -1;         // our largest Initial packet number, to expand truncated ones
  std::int64_t largest_server_ = -1;  // the server's
};

}  // namespace culvert::quic
