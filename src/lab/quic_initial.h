// What an on-path censor reads from QUIC. A client's Initial packets are protected with keys that
// anyone can derive from the packet's Destination Connection ID (RFC 9001 §5.2; RFC 9369 for v2), so
// the GFW decrypts them, reassembles the ClientHello from their CRYPTO frames and blocks by its SNI
// (Zohaib et al., USENIX Security 2025). The lab does the same: to see what a QUIC client gives
// away, and to compare the Initials of Culvert's QUIC transport with Chromium's (fingerprint,
// transport parameters, packet sizes). Pure code: no I/O.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/result.h"
#include "lab/client_hello.h"
#include "quic/packet_protection.h"

namespace culvert::lab {

inline constexpr std::uint32_t kQuicV1 = quic::kVersion1;
inline constexpr std::uint32_t kQuicV2 = quic::kVersion2;

// One client Initial packet, decrypted.
struct QuicInitialPacket {
  std::uint32_t version = 0;
  Bytes destination_id, source_id, token;
  std::uint64_t packet_number = 0;
  std::size_t packet_number_length = 0;
  std::size_t packet_size = 0;  // header, payload and tag
  struct CryptoChunk {
    std::uint64_t offset = 0;
    Bytes data;
  };
  std::vector<CryptoChunk> crypto;         // in frame order
  std::vector<std::uint64_t> frame_types;  // every frame in order, PADDING runs counted once
  std::size_t padding_bytes = 0;
};

// Opens the Initial packet at the start of `datagram` (a datagram may coalesce more packets after
// it; they are ignored). Errc::unsupported for a version other than v1 and v2 or a packet that is
// not an Initial, Errc::malformed when the header, the protection or a frame is invalid.
Result<QuicInitialPacket> open_client_initial(ByteSpan datagram);

// Reads the frames of an opened Initial's payload into `packet` (crypto, frame_types,
// padding_bytes). Only the frames an Initial may carry (RFC 9000 §12.4: PADDING, PING, ACK, CRYPTO,
// CONNECTION_CLOSE); anything else, or CRYPTO data past 64 KiB, is Errc::malformed.
Result<void> parse_initial_frames(ByteSpan payload, QuicInitialPacket& packet);

struct QuicTransportParameter {
  std::uint64_t id = 0;
  Bytes value;
};
// The quic_transport_parameters extension's body (RFC 9000 §18), in wire order.
Result<std::vector<QuicTransportParameter>> parse_transport_parameters(ByteSpan body);
// GREASE ids are 31 * N + 27 (RFC 9000 §18.1).
bool is_grease_transport_parameter(std::uint64_t id);

struct QuicClientInitial {
  ClientHello hello;  // over_quic set: ja4() starts with 'q'
  std::vector<QuicTransportParameter> transport_parameters;
  std::vector<QuicInitialPacket> packets;  // the Initials read, in datagram order
  std::vector<std::size_t> datagram_sizes;
};

// The ClientHello of a connection from the first datagrams its client sent, in order: CRYPTO data
// of the Initials that carry the first datagram's connection id is put together by offset, as a
// censor reassembles it (Chromium shuffles and splits its CRYPTO frames across two packets).
// Datagrams that are not such Initials are skipped. Errc::truncated if the ClientHello is not
// complete; at most 64 KiB of CRYPTO data is considered.
Result<QuicClientInitial> read_client_initial(std::span<const ByteSpan> datagrams);
// The same from packets already opened (datagram_sizes left empty).
Result<QuicClientInitial> client_initial_from_packets(std::vector<QuicInitialPacket> packets);

// A one-line description of the parts of a QUIC client's first flight that identify its software,
// for comparing with a browser's: "q13d...(JA4) tp=<transport parameter ids, sorted, then a 'G' per
// GREASE id> size=<first datagram size>". Sorted because Chromium shuffles them per connection.
std::string quic_fingerprint(const QuicClientInitial& initial);

}  // namespace culvert::lab
