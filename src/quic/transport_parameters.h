// The quic_transport_parameters a Chromium client sends (RFC 9000 §18), as captured against an
// HTTP/3 server (lab/data/quic/): its values, Google's connection-options parameter, a GREASE
// parameter of random id and length, version_information with a GREASE version at a random place,
// and the 13 parameters in a fresh random order per connection. The QUIC transport's client sends
// these so that its Initial reads as Chromium's; ngtcp2 must then be configured with the same
// values (`ChromiumTransportValues`), which is what a peer holds us to. Pure code: no I/O.
#pragma once

#include <array>
#include <cstdint>

#include "core/bytes.h"
#include "core/result.h"

namespace culvert::quic {

// Transport parameter ids (RFC 9000 §18.2, RFC 9221, RFC 9368) and Google's own.
namespace tp {
inline constexpr std::uint64_t kMaxIdleTimeout = 0x01;
inline constexpr std::uint64_t kMaxUdpPayloadSize = 0x03;
inline constexpr std::uint64_t kInitialMaxData = 0x04;
inline constexpr std::uint64_t kInitialMaxStreamDataBidiLocal = 0x05;
inline constexpr std::uint64_t kInitialMaxStreamDataBidiRemote = 0x06;
inline constexpr std::uint64_t kInitialMaxStreamDataUni = 0x07;
inline constexpr std::uint64_t kInitialMaxStreamsBidi = 0x08;
inline constexpr std::uint64_t kInitialMaxStreamsUni = 0x09;
inline constexpr std::uint64_t kInitialSourceConnectionId = 0x0f;
inline constexpr std::uint64_t kVersionInformation = 0x11;
inline constexpr std::uint64_t kMaxDatagramFrameSize = 0x20;
inline constexpr std::uint64_t kGoogleConnectionOptions = 0x3128;
}  // namespace tp

// Chromium 156's values.
struct ChromiumTransportValues {
  std::uint64_t max_idle_timeout_ms = 30000;
  std::uint64_t max_udp_payload_size = 1472;
  std::uint64_t initial_max_data = 15 * 1024 * 1024;
  std::uint64_t initial_max_stream_data = 6 * 1024 * 1024;  // bidi local, bidi remote and uni alike
  std::uint64_t initial_max_streams_bidi = 100;
  std::uint64_t initial_max_streams_uni = 103;
  std::uint64_t max_datagram_frame_size = 65536;
  std::uint32_t version = 0x00000001;
  Bytes initial_source_connection_id;  // Chromium's is empty
};

inline constexpr std::size_t kChromiumTransportParameterCount = 13;

struct TransportParameterRandomness {
  std::uint64_t grease_multiplier = 0;  // the GREASE id is 31 * this + 27 (below 2^62)
  Bytes grease_value;                   // 0..16 random bytes
  std::uint32_t grease_version = 0x0a0a0a0a;
  bool grease_version_first = false;  // before or after the real version in the available list
  // A permutation of 0..12: the order of the parameters on the wire, indexing this reference
  // order: idle timeout, UDP payload, max data, stream data bidi local, bidi remote, uni, streams
  // bidi, uni, initial source connection id, version information, datagram frame size, Google
  // connection options, GREASE.
  std::array<std::uint8_t, kChromiumTransportParameterCount> order{};

  static TransportParameterRandomness draw();
};

// The extension body.
Bytes encode_chromium_transport_parameters(const ChromiumTransportValues& values,
                                           const TransportParameterRandomness& randomness);

// The grease_quic_bit parameter (RFC 9287). A client that reads it from the server may clear the
// fixed bit of its packets; Chromium never does, so the client hides it from ngtcp2.
inline constexpr std::uint64_t kGreaseQuicBit = 0x2ab2;
// `parameters` (an extension body) without the parameter `id`; unchanged if it is malformed.
Bytes without_transport_parameter(ByteSpan parameters, std::uint64_t id);

// QUIC variable-length integers (RFC 9000 §16): the shortest encoding of `value` (< 2^62), and
// the value at the start of `bytes` with the number of bytes it took.
void write_varint(Bytes& out, std::uint64_t value);
struct Varint {
  std::uint64_t value = 0;
  std::size_t length = 0;
};
Result<Varint> read_varint(ByteSpan bytes);

}  // namespace culvert::quic
