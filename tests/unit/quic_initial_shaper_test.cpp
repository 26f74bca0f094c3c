// The Initial shaper: a lone client Initial comes out 1,250 bytes long, with the same packet
// number and the same CRYPTO bytes cut into several frames among PINGs and PADDING, as a censor
// that decrypts it (the lab's reader) sees; anything else passes untouched.
#include "quic/initial_shaper.h"

#include <gtest/gtest.h>

#include <map>

#include "lab/quic_initial.h"
#include "quic/transport_parameters.h"

namespace culvert::quic {
namespace {

const Bytes kDestination{1, 2, 3, 4, 5, 6, 7, 8};

// A client Initial of `datagram` bytes as ngtcp2 writes one: one CRYPTO frame, PADDING after it.
Bytes initial(std::uint64_t pn, const Bytes& crypto_data, std::size_t datagram, std::uint8_t extra_frame = 0) {
  auto secrets = initial_secrets(kDestination, kVersion1).value();
  auto keys = packet_keys(initial_suite(), secrets.client, kVersion1).value();
  Bytes header{0xc1, 0, 0, 0, 1, 8};  // Initial, 2-byte packet number
  header.insert(header.end(), kDestination.begin(), kDestination.end());
  header.push_back(0);  // no source id (Chromium's)
  header.push_back(0);  // no token
  std::size_t length_at = header.size();
  header.insert(header.end(), {0x40, 0x00, static_cast<std::uint8_t>(pn >> 8), static_cast<std::uint8_t>(pn)});
  Bytes payload{0x06, 0x00};
  write_varint(payload, crypto_data.size());
  payload.insert(payload.end(), crypto_data.begin(), crypto_data.end());
  if (extra_frame) payload.push_back(extra_frame);
  std::size_t payload_size = datagram - header.size() - kTagSize;
  if (payload.size() < payload_size) payload.resize(payload_size, 0x00);
  std::size_t length = 2 + payload.size() + kTagSize;
  header[length_at] = static_cast<std::uint8_t>(0x40 | (length >> 8));
  header[length_at + 1] = static_cast<std::uint8_t>(length);
  return protect_packet(keys, header, pn, payload).value();
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
    EXPECT_EQ(opened->packet_number, 7u);
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

TEST(InitialShaper, LeavesEverythingElseAlone) {
  auto shaper = InitialShaper::create(kDestination, kVersion1).value();
  Bytes coalesced = initial(1, data(500), kUnshapedDatagramSize);
  coalesced.push_back(0x40);  // another packet after the Initial (here: a stub)
  EXPECT_EQ(shaper.shape(coalesced), coalesced);
  Bytes closing = initial(2, data(10), kUnshapedDatagramSize, 0x1c);  // CONNECTION_CLOSE follows
  EXPECT_EQ(shaper.shape(closing), closing);
  Bytes garbage = data(1200);
  EXPECT_EQ(shaper.shape(garbage), garbage);
  Bytes short_header{0x40, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22};
  EXPECT_EQ(shaper.shape(short_header), short_header);
  // Another connection's keys: it cannot be opened, so it is not touched.
  auto other = InitialShaper::create(Bytes{9, 9, 9, 9, 9, 9, 9, 9}, kVersion1).value();
  Bytes mine = initial(3, data(800), kUnshapedDatagramSize);
  EXPECT_EQ(other.shape(mine), mine);
}

}  // namespace
}  // namespace culvert::quic
