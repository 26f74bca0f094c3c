// The Initial shaper: a lone client Initial comes out 1,250 bytes long, with the same packet
// number and the same CRYPTO bytes cut into several frames among PINGs and PADDING, as a censor
// that decrypts it (the lab's reader) sees; anything else passes untouched.
#include "quic/initial_shaper.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "lab/quic_initial.h"
#include "quic/transport_parameters.h"

namespace culvert::quic {
namespace {

const Bytes kDestination{1, 2, 3, 4, 5, 6, 7, 8};

// An Initial of `datagram` bytes as ngtcp2 writes one: `frames`, then PADDING. The client's keys,
// or the server's when `from_server` (which also gives it an 8-byte source id).
Bytes initial_with(std::uint64_t pn, Bytes frames, std::size_t datagram, bool from_server = false) {
  auto secrets = initial_secrets(kDestination, kVersion1).value();
  auto keys = packet_keys(initial_suite(), from_server ? secrets.server : secrets.client, kVersion1).value();
  Bytes header{0xc1, 0, 0, 0, 1, 8};  // Initial, 2-byte packet number
  header.insert(header.end(), kDestination.begin(), kDestination.end());
  if (from_server) {
    header.push_back(8);
    header.insert(header.end(), 8, 0x5a);
  } else {
    header.push_back(0);  // no source id (Chromium's)
  }
  header.push_back(0);  // no token
  std::size_t length_at = header.size();
  header.insert(header.end(), {0x40, 0x00, static_cast<std::uint8_t>(pn >> 8), static_cast<std::uint8_t>(pn)});
  std::size_t payload_size = datagram - header.size() - kTagSize;
  if (frames.size() < payload_size) frames.resize(payload_size, 0x00);
  std::size_t length = 2 + frames.size() + kTagSize;
  header[length_at] = static_cast<std::uint8_t>(0x40 | (length >> 8));
  header[length_at + 1] = static_cast<std::uint8_t>(length);
  return protect_packet(keys, header, pn, frames).value();
}

Bytes crypto(const Bytes& data) {
  Bytes frame{0x06, 0x00};
  write_varint(frame, data.size());
  frame.insert(frame.end(), data.begin(), data.end());
  return frame;
}

Bytes initial(std::uint64_t pn, const Bytes& crypto_data, std::size_t datagram) {
  return initial_with(pn, crypto(crypto_data), datagram);
}

Bytes data(std::size_t n) {
  Bytes d(n);
  for (std::size_t i = 0; i < n; ++i) d[i] = static_cast<std::uint8_t>(i * 7 + 3);
  return d;
}

// The CRYPTO bytes of an opened packet, put back together by offset.
Bytes reassembled(const lab::QuicInitialPacket& packet) {
  std::map<std::uint64_t, Bytes> by_offset;
  for (const auto& c : packet.crypto) by_offset[c.offset] = c.data;
  Bytes out;
  for (const auto& [offset, bytes] : by_offset) {
    EXPECT_EQ(offset, out.size());
    out.insert(out.end(), bytes.begin(), bytes.end());
  }
  return out;
}

TEST(InitialShaper, CutsTheCryptoDataAmongPingsAndPaddingAndGrowsTheDatagram) {
  auto shaper = InitialShaper::create(kDestination, kVersion1).value();
  const Bytes hello = data(1100);
  std::size_t most_frames = 0;
  for (int i = 0; i < 20; ++i) {
    Bytes shaped = shaper.shape(initial(7, hello, kUnshapedDatagramSize));
    ASSERT_EQ(shaped.size(), kShapedDatagramSize);
    auto opened = lab::open_client_initial(shaped);
    ASSERT_TRUE(opened) << opened.error().message();
    EXPECT_EQ(opened->packet_number, 8u);  // Chromium's numbering: ngtcp2's plus one
    EXPECT_EQ(reassembled(*opened), hello);
    EXPECT_GE(opened->crypto.size(), 3u);  // at least two cuts
    std::size_t pings = 0;
    for (auto t : opened->frame_types) pings += t == 0x01;
    EXPECT_GE(pings, 2u);
    most_frames = std::max(most_frames, opened->frame_types.size());
  }
  EXPECT_GT(most_frames, 6u);
}

TEST(InitialShaper, AFullPacketKeepsItsBytesAndSize) {
  // No room to cut (ngtcp2 asked for the full size): the data and the packet number survive.
  auto shaper = InitialShaper::create(kDestination, kVersion1).value();
  const Bytes hello = data(1205);
  Bytes shaped = shaper.shape(initial(0, hello, kShapedDatagramSize));
  ASSERT_EQ(shaped.size(), kShapedDatagramSize);
  auto opened = lab::open_client_initial(shaped);
  ASSERT_TRUE(opened);
  EXPECT_EQ(reassembled(*opened), hello);
}

TEST(InitialShaper, RenumbersEveryInitialAndLeavesTheRestAlone) {
  auto shaper = InitialShaper::create(kDestination, kVersion1).value();
  // An Initial with a packet after it: renumbered only, the bytes after it as they were.
  Bytes coalesced = initial(1, data(500), kUnshapedDatagramSize);
  coalesced.insert(coalesced.end(), {0x40, 1, 2, 3});
  Bytes shaped = shaper.shape(coalesced);
  ASSERT_EQ(shaped.size(), coalesced.size());
  EXPECT_TRUE(std::equal(shaped.end() - 4, shaped.end(), coalesced.end() - 4));
  auto opened = lab::open_client_initial(shaped);
  ASSERT_TRUE(opened);
  EXPECT_EQ(opened->packet_number, 2u);
  ASSERT_EQ(opened->crypto.size(), 1u);  // not re-framed
  // A CONNECTION_CLOSE in it: renumbered, not re-framed.
  Bytes closing = initial_with(2, Bytes{0x1c, 0x00, 0x00, 0x00}, kUnshapedDatagramSize);
  shaped = shaper.shape(closing);
  ASSERT_EQ(shaped.size(), closing.size());
  EXPECT_EQ(lab::open_client_initial(shaped)->packet_number, 3u);
  // Not an Initial, or not ours: untouched.
  Bytes garbage = data(1200);
  EXPECT_EQ(shaper.shape(garbage), garbage);
  Bytes short_header{0x40, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22};
  EXPECT_EQ(shaper.shape(short_header), short_header);
  auto other = InitialShaper::create(Bytes{9, 9, 9, 9, 9, 9, 9, 9}, kVersion1).value();
  Bytes mine = initial(3, data(800), kUnshapedDatagramSize);
  EXPECT_EQ(other.shape(mine), mine);
}

TEST(InitialShaper, MovesTheServersAcknowledgementsBackToNgtcp2sNumbers) {
  auto shaper = InitialShaper::create(kDestination, kVersion1).value();
  // ACK: largest 2, delay 0, no more ranges, first range 1 (our renumbered 1 and 2), then CRYPTO.
  Bytes frames{0x02, 0x02, 0x00, 0x00, 0x01};
  Bytes hello = crypto(data(90));
  frames.insert(frames.end(), hello.begin(), hello.end());
  Bytes datagram = initial_with(0, frames, 1200, true);
  const std::size_t size = datagram.size();
  shaper.restore(datagram);
  ASSERT_EQ(datagram.size(), size);
  auto secrets = initial_secrets(kDestination, kVersion1).value();
  auto keys = packet_keys(initial_suite(), secrets.server, kVersion1).value();
  auto opened = unprotect_packet(keys, datagram, 6 + 8 + 1 + 8 + 1 + 2, -1);
  ASSERT_TRUE(opened);
  EXPECT_EQ(opened->payload[0], 0x02);
  EXPECT_EQ(opened->payload[1], 0x01);  // largest acknowledged: 1, ngtcp2's number for our 2
  EXPECT_EQ(opened->payload[4], 0x01);  // the range's length is kept
  EXPECT_TRUE(std::equal(hello.begin(), hello.end(), opened->payload.begin() + 5));
  // An ACK of a packet we never sent (our numbering has no 0) is left for ngtcp2 to judge.
  Bytes bogus = initial_with(1, Bytes{0x02, 0x00, 0x00, 0x00, 0x00}, 1200, true);
  Bytes before = bogus;
  shaper.restore(bogus);
  EXPECT_EQ(bogus, before);
}

}  // namespace
}  // namespace culvert::quic

namespace culvert::quic {
namespace {

TEST(TransportParameters, GreaseQuicBitIsHiddenFromNgtcp2AndTheRestKept) {
  // max_idle_timeout 30000, grease_quic_bit (empty), initial_max_data 1 MiB.
  Bytes params{0x01, 0x04, 0x80, 0x00, 0x75, 0x30, 0x80, 0x00, 0x2a, 0xb2, 0x00, 0x04, 0x04, 0x80, 0x10, 0x00, 0x00};
  Bytes expected{0x01, 0x04, 0x80, 0x00, 0x75, 0x30, 0x04, 0x04, 0x80, 0x10, 0x00, 0x00};
  EXPECT_EQ(without_transport_parameter(params, kGreaseQuicBit), expected);
  EXPECT_EQ(without_transport_parameter(expected, kGreaseQuicBit), expected);
  Bytes truncated{0x01, 0x04, 0x80};
  EXPECT_EQ(without_transport_parameter(truncated, kGreaseQuicBit), truncated);
}

}  // namespace
}  // namespace culvert::quic
