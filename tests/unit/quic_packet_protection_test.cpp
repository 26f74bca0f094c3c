// QUIC packet protection against the published vectors: RFC 9001 Appendix A (v1, AES and
// ChaCha20) and RFC 9369 Appendix A (v2), plus what hostile bytes must not get past.
#include "quic/packet_protection.h"

#include <gtest/gtest.h>

#include <string>

namespace culvert::quic {
namespace {

Bytes hex(std::string_view text) {
  Bytes out;
  std::string digits;
  for (char c : text)
    if (c != ' ') digits.push_back(c);
  for (std::size_t i = 0; i + 1 < digits.size(); i += 2)
    out.push_back(static_cast<std::uint8_t>(std::stoi(digits.substr(i, 2), nullptr, 16)));
  return out;
}

std::string to_hex(ByteSpan bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (auto b : bytes) {
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 15]);
  }
  return out;
}

const Bytes kDestinationId = hex("8394c8f03e515708");

const tls13::CipherSuite& chacha() { return *tls13::find_cipher_suite(0x1303); }

TEST(QuicPacketProtection, InitialKeysMatchRfc9001AppendixA1) {
  auto secrets = initial_secrets(kDestinationId, kVersion1);
  ASSERT_TRUE(secrets);
  EXPECT_EQ(to_hex(secrets->client), "c00cf151ca5be075ed0ebfb5c80323c42d6b7db67881289af4008f1f6c357aea");
  EXPECT_EQ(to_hex(secrets->server), "3c199828fd139efd216c155ad844cc81fb82fa8d7446fa7d78be803acdda951b");
  auto client = packet_keys(initial_suite(), secrets->client, kVersion1);
  auto server = packet_keys(initial_suite(), secrets->server, kVersion1);
  ASSERT_TRUE(client && server);
  EXPECT_EQ(to_hex(client->key), "1f369613dd76d5467730efcbe3b1a22d");
  EXPECT_EQ(to_hex(client->iv), "fa044b2f42a3fd3b46fb255c");
  EXPECT_EQ(to_hex(client->hp), "9f50449e04a0e810283a1e9933adedd2");
  EXPECT_EQ(to_hex(server->key), "cf3a5331653c364c88f0f379b6067e37");
  EXPECT_EQ(to_hex(server->iv), "0ac1493ca1905853b0bba03e");
  EXPECT_EQ(to_hex(server->hp), "c206b8d9b9f0f37644430b490eeaa314");
}

TEST(QuicPacketProtection, Version2InitialKeysMatchRfc9369AppendixA1) {
  auto secrets = initial_secrets(kDestinationId, kVersion2);
  ASSERT_TRUE(secrets);
  EXPECT_EQ(to_hex(secrets->client), "14ec9d6eb9fd7af83bf5a668bc17a7e283766aade7ecd0891f70f9ff7f4bf47b");
  EXPECT_EQ(to_hex(secrets->server), "0263db1782731bf4588e7e4d93b7463907cb8cd8200b5da55a8bd488eafc37c1");
  auto client = packet_keys(initial_suite(), secrets->client, kVersion2);
  auto server = packet_keys(initial_suite(), secrets->server, kVersion2);
  ASSERT_TRUE(client && server);
  EXPECT_EQ(to_hex(client->key), "8b1a0bc121284290a29e0971b5cd045d");
  EXPECT_EQ(to_hex(client->iv), "91f73e2351d8fa91660e909f");
  EXPECT_EQ(to_hex(client->hp), "45b95e15235d6f45a6b19cbcb0294ba9");
  EXPECT_EQ(to_hex(server->key), "82db637861d55e1d011f19ea71d5d2a7");
  EXPECT_EQ(to_hex(server->iv), "dd13c276499c0249d3310652");
  EXPECT_EQ(to_hex(server->hp), "edf6d05c83121201b436e16877593c3a");
}

TEST(QuicPacketProtection, HeaderMaskMatchesRfc9001AppendixA2) {
  auto hp = HeaderProtection::create(initial_suite(), hex("9f50449e04a0e810283a1e9933adedd2"));
  ASSERT_TRUE(hp);
  auto mask = hp->mask(hex("d1b1c98dd7689fb8ec11d242b123dc9b"));
  ASSERT_TRUE(mask);
  EXPECT_EQ(to_hex(*mask), "437b9aec36");
}

// RFC 9001 A.3: the server's Initial, sealed and header-protected byte for byte, and opened again.
TEST(QuicPacketProtection, ServerInitialMatchesRfc9001AppendixA3) {
  auto secrets = initial_secrets(kDestinationId, kVersion1);
  auto keys = packet_keys(initial_suite(), secrets->server, kVersion1);
  ASSERT_TRUE(keys);
  Bytes header = hex("c1000000010008f067a5502a4262b50040750001");
  Bytes payload = hex(
      "02000000000600405a020000560303eefce7f7b37ba1d1632e96677825ddf73988cfc79825df566dc5430b9a045a1200130100002e0033"
      "0024001d00209d3c940d89690b84d08a60993c144eca684d1081287c834d5311bcf32bb9da1a002b00020304");
  std::string expected =
      "cf000000010008f067a5502a4262b5004075c0d95a482cd0991cd25b0aac406a5816b6394100f37a1c69797554780bb38cc5a99f5ede4cf7"
      "3c3ec2493a1839b3dbcba3f6ea46c5b7684df3548e7ddeb9c3bf9c73cc3f3bded74b562bfb19fb84022f8ef4cdd93795d77d06edbb7aaf2f"
      "58891850abbdca3d20398c276456cbc42158407dd074ee";
  auto packet = protect_packet(*keys, header, 1, payload);
  ASSERT_TRUE(packet);
  EXPECT_EQ(to_hex(*packet), expected);
  auto opened = unprotect_packet(*keys, *packet, header.size() - 2, -1);
  ASSERT_TRUE(opened) << opened.error().message();
  EXPECT_EQ(opened->packet_number, 1u);
  EXPECT_EQ(opened->packet_number_length, 2u);
  EXPECT_EQ(opened->header, header);
  EXPECT_EQ(opened->payload, payload);
}

// RFC 9001 A.5: a short-header packet under ChaCha20-Poly1305, and the key update from its secret.
TEST(QuicPacketProtection, ChaChaShortHeaderMatchesRfc9001AppendixA5) {
  Bytes secret = hex("9ac312a7f877468ebe69422748ad00a15443f18203a07d6060f688f30f21632b");
  auto keys = packet_keys(chacha(), secret, kVersion1);
  ASSERT_TRUE(keys);
  EXPECT_EQ(to_hex(keys->key), "c6d98ff3441c3fe1b2182094f69caa2ed4b716b65488960a7a984979fb23e1c8");
  EXPECT_EQ(to_hex(keys->iv), "e0459b3474bdd0e44a41c144");
  EXPECT_EQ(to_hex(keys->hp), "25a282b9e82f06f21f488917a4fc8f1b73573685608597d0efcb076b0ab7a7a4");
  EXPECT_EQ(to_hex(next_secret(chacha(), secret, kVersion1)),
            "1223504755036d556342ee9361d253421a826c9ecdf3c7148684b36b714881f9");
  auto hp = HeaderProtection::create(chacha(), keys->hp);
  ASSERT_TRUE(hp);
  auto mask = hp->mask(hex("5e5cd55c41f69080575d7999c25a5bfb"));
  ASSERT_TRUE(mask);
  EXPECT_EQ(to_hex(*mask), "aefefe7d03");
  const std::uint64_t pn = 654360564;
  auto packet = protect_packet(*keys, hex("4200bff4"), pn, hex("01"));
  ASSERT_TRUE(packet);
  EXPECT_EQ(to_hex(*packet), "4cfe4189655e5cd55c41f69080575d7999c25a5bfb");
  auto opened = unprotect_packet(*keys, *packet, 1, pn - 1);
  ASSERT_TRUE(opened);
  EXPECT_EQ(opened->packet_number, pn);
  EXPECT_EQ(to_hex(opened->header), "4200bff4");
  EXPECT_EQ(opened->payload, hex("01"));
}

TEST(QuicPacketProtection, RetryTagsMatchRfc9001AndRfc9369) {
  auto v1 = retry_integrity_tag(kVersion1, kDestinationId, hex("ff000000010008f067a5502a4262b5746f6b656e"));
  auto v2 = retry_integrity_tag(kVersion2, kDestinationId, hex("cf6b3343cf0008f067a5502a4262b5746f6b656e"));
  ASSERT_TRUE(v1 && v2);
  EXPECT_EQ(to_hex(*v1), "04a265ba2eff4d829058fb3f0f2496ba");
  EXPECT_EQ(to_hex(*v2), "c8646ce8bfe33952d955543665dcc7b6");
  EXPECT_FALSE(retry_integrity_tag(0xff00001d, kDestinationId, {}));
}

TEST(QuicPacketProtection, PacketNumbersDecodeAsRfc9000AppendixA3) {
  EXPECT_EQ(decode_packet_number(0xa82f30ea, 0x9b32, 2), 0xa82f9b32u);
  EXPECT_EQ(decode_packet_number(-1, 0, 1), 0u);
  EXPECT_EQ(decode_packet_number(-1, 1, 4), 1u);
  // Just past a window's edge: 0xff then 0x00 in one byte is 0x100, not 0.
  EXPECT_EQ(decode_packet_number(0xff, 0x00, 1), 0x100u);
  // A late packet from just before the window's start.
  EXPECT_EQ(decode_packet_number(0x100, 0xfe, 1), 0xfeu);
}

TEST(QuicPacketProtection, AllSuitesRoundTripAndEveryFlippedBitIsRefused) {
  for (std::uint16_t id : {0x1301, 0x1302, 0x1303}) {
    const auto& suite = *tls13::find_cipher_suite(id);
    Bytes secret(suite.hash_length, 0x5a);
    auto keys = packet_keys(suite, secret, kVersion1);
    ASSERT_TRUE(keys);
    Bytes header = hex("41 0102030405060708 0007");  // short header, 8-byte DCID, 2-byte packet number
    Bytes payload(40, 0x42);
    auto packet = protect_packet(*keys, header, 7, payload);
    ASSERT_TRUE(packet) << id;
    auto opened = unprotect_packet(*keys, *packet, 9, 5);
    ASSERT_TRUE(opened) << id;
    EXPECT_EQ(opened->payload, payload);
    EXPECT_EQ(opened->packet_number, 7u);
    for (std::size_t i = 0; i < packet->size(); i += 3) {
      Bytes bad = *packet;
      bad[i] ^= 0x10;
      EXPECT_FALSE(unprotect_packet(*keys, bad, 9, 5)) << "suite " << id << " byte " << i;
    }
  }
}

TEST(QuicPacketProtection, ShortOrMisfitInputIsAnErrorNotACrash) {
  auto secrets = initial_secrets(kDestinationId, kVersion1);
  auto keys = packet_keys(initial_suite(), secrets->client, kVersion1);
  ASSERT_TRUE(keys);
  Bytes packet(60, 0xc3);
  for (std::size_t n = 0; n <= packet.size(); ++n)
    EXPECT_FALSE(unprotect_packet(*keys, ByteSpan(packet).first(n), 18, -1)) << n;
  EXPECT_FALSE(unprotect_packet(*keys, packet, 0, -1));
  EXPECT_FALSE(protect_packet(*keys, hex("43"), 0, {}));     // no room for the packet number it declares
  EXPECT_FALSE(protect_packet(*keys, hex("40 00"), 0, {}));  // too short to give a sample
  EXPECT_FALSE(packet_keys(initial_suite(), Bytes(31), kVersion1));
  EXPECT_FALSE(packet_keys(initial_suite(), Bytes(32), 0xff00001d));
  EXPECT_FALSE(initial_secrets(Bytes(21), kVersion1));
  EXPECT_FALSE(Aead::create(initial_suite(), Bytes(15), true));
  EXPECT_FALSE(HeaderProtection::create(chacha(), Bytes(16)));
  auto hp = HeaderProtection::create(initial_suite(), Bytes(16));
  ASSERT_TRUE(hp);
  EXPECT_FALSE(hp->mask(Bytes(15)));
  auto sealer = Aead::create(initial_suite(), Bytes(16), true);
  ASSERT_TRUE(sealer);
  Bytes out(16);
  EXPECT_FALSE(sealer->open(Bytes(12), {}, Bytes(16), out.data()));  // a sealing key does not open
  EXPECT_FALSE(sealer->seal(Bytes(8), {}, {}, out.data()));          // a nonce that is not 12 bytes
}

}  // namespace
}  // namespace culvert::quic
