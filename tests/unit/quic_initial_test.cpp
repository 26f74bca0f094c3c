// The lab opens QUIC Initials as a censor does. Chromium's own first flights
// (lab/data/quic/README.md) are the reference: the AEAD tag of every packet only verifies with
// the right Initial keys, so opening them checks the key derivation and header protection against
// an implementation we did not write.
#include "lab/quic_initial.h"

#include <gtest/gtest.h>

#include "quic/client_handshake.h"
#include "quic/transport_parameters.h"
#include "tls13/client_hello.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

namespace culvert::lab {
namespace {

Bytes capture(const std::string& name) {
  auto path = std::filesystem::path(CULVERT_SOURCE_DIR) / "lab" / "data" / "quic" / name;
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

std::vector<Bytes> connection(const std::string& id, int datagrams) {
  std::vector<Bytes> out;
  for (int i = 1; i <= datagrams; ++i)
    out.push_back(capture("chromium-156.0.8078.129-" + id + "-" + std::to_string(i) + ".bin"));
  return out;
}

Result<QuicClientInitial> read(const std::vector<Bytes>& datagrams) {
  std::vector<ByteSpan> spans(datagrams.begin(), datagrams.end());
  return read_client_initial(spans);
}

TEST(QuicInitial, OpensChromiumsFirstPacketAndReadsItsHeader) {
  auto datagram = capture("chromium-156.0.8078.129-conn1-1.bin");
  ASSERT_EQ(datagram.size(), 1250u);
  auto packet = open_client_initial(datagram);
  ASSERT_TRUE(packet) << packet.error().message();
  EXPECT_EQ(packet->version, kQuicV1);
  EXPECT_EQ(packet->destination_id.size(), 8u);
  EXPECT_TRUE(packet->source_id.empty());
  EXPECT_TRUE(packet->token.empty());
  EXPECT_EQ(packet->packet_number, 1u);  // Chromium numbers from 1
  EXPECT_EQ(packet->packet_size, 1250u);
  EXPECT_FALSE(packet->crypto.empty());
  EXPECT_GT(packet->padding_bytes, 0u);
  // Chaos protection: PING frames among the CRYPTO frames.
  EXPECT_NE(std::find(packet->frame_types.begin(), packet->frame_types.end(), 0x01u), packet->frame_types.end());
}

// The ClientHello does not fit one packet (ML-KEM key share): a censor must reassemble CRYPTO
// frames across packets, by offset, as the GFW does.
TEST(QuicInitial, ReassemblesTheClientHelloAcrossPacketsAndReadsTheSni) {
  auto first_only = read(connection("conn1", 1));
  EXPECT_FALSE(first_only);
  EXPECT_EQ(first_only.error(), Errc::truncated);

  auto initial = read(connection("conn1", 6));
  ASSERT_TRUE(initial) << initial.error().message();
  EXPECT_EQ(initial->hello.sni, "quic.example.test");
  EXPECT_EQ(initial->hello.alpn, std::vector<std::string>{"h3"});
  EXPECT_EQ(initial->hello.handshake_length + 4, 1944u);
  EXPECT_EQ(initial->packets.size(), 6u);  // the close (6) is an Initial too
  auto fingerprint = ja4(initial->hello);
  EXPECT_EQ(fingerprint.substr(0, 4), "q13d") << fingerprint;
  EXPECT_EQ(fingerprint.substr(8, 2), "h3") << fingerprint;

  auto other = read(connection("conn2", 2));
  ASSERT_TRUE(other) << other.error().message();
  EXPECT_EQ(other->hello.sni, "www.example.org");
}

// Culvert's QUIC ClientHello against Chromium's own: with the same transport parameters, server
// name and ECH payload size it must read the same to a censor (JA4, every list, the size), and its
// extensions must be shuffled per connection as Chromium's are.
TEST(QuicInitial, CulvertsQuicClientHelloReadsAsChromiums) {
  auto chromium = read(connection("conn1", 6));
  ASSERT_TRUE(chromium) << chromium.error().message();
  const ClientHello& reference = chromium->hello;
  tls13::ClientHelloSpec spec;
  spec.server_name = "quic.example.test";
  spec.alpn = {"h3"};
  spec.key_shares = {{tls13::group::kX25519MlKem768, Bytes(1216, 0x11)}, {tls13::group::kX25519, Bytes(32, 0x22)}};
  spec.quic_transport_parameters = reference.quic_transport_parameters;
  std::set<std::vector<std::uint16_t>> orders;
  for (int i = 0; i < 8; ++i) {
    auto randomness = tls13::HelloRandomness::draw();
    randomness.ech_payload.resize(208);  // the size this capture's GREASE ECH drew
    auto message = tls13::build_client_hello(spec, randomness);
    auto hello = parse_client_hello_message(message);
    ASSERT_TRUE(hello) << hello.error().message();
    hello->over_quic = true;
    EXPECT_EQ(ja4(*hello), ja4(reference));
    EXPECT_EQ(ja4_raw(*hello), ja4_raw(reference));
    EXPECT_EQ(hello->handshake_length, reference.handshake_length);
    EXPECT_EQ(hello->session_id_length, 0u);
    EXPECT_EQ(hello->cipher_suites, reference.cipher_suites);
    EXPECT_EQ(hello->supported_groups, reference.supported_groups);
    EXPECT_EQ(hello->signature_algorithms, reference.signature_algorithms);
    EXPECT_EQ(hello->supported_versions, reference.supported_versions);
    EXPECT_EQ(hello->alpn, reference.alpn);
    EXPECT_EQ(hello->quic_transport_parameters, reference.quic_transport_parameters);
    auto sorted = hello->extensions, expected = reference.extensions;
    std::sort(sorted.begin(), sorted.end());
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(sorted, expected);  // the same 12, no GREASE, no padding
    orders.insert(hello->extensions);
  }
  EXPECT_GT(orders.size(), 4u);  // 12! orders: eight draws repeat one with negligible odds
}

// The randomness that, with Chromium's values, gives back a captured transport parameter list.
quic::TransportParameterRandomness randomness_of(const std::vector<QuicTransportParameter>& params) {
  const std::uint64_t reference[] = {quic::tp::kMaxIdleTimeout,
                                     quic::tp::kMaxUdpPayloadSize,
                                     quic::tp::kInitialMaxData,
                                     quic::tp::kInitialMaxStreamDataBidiLocal,
                                     quic::tp::kInitialMaxStreamDataBidiRemote,
                                     quic::tp::kInitialMaxStreamDataUni,
                                     quic::tp::kInitialMaxStreamsBidi,
                                     quic::tp::kInitialMaxStreamsUni,
                                     quic::tp::kInitialSourceConnectionId,
                                     quic::tp::kVersionInformation,
                                     quic::tp::kMaxDatagramFrameSize,
                                     quic::tp::kGoogleConnectionOptions};
  quic::TransportParameterRandomness r;
  for (std::size_t i = 0; i < params.size() && i < r.order.size(); ++i) {
    const auto& p = params[i];
    auto found = std::find(std::begin(reference), std::end(reference), p.id);
    if (found == std::end(reference)) {
      r.order[i] = 12;
      r.grease_multiplier = (p.id - 27) / 31;
      r.grease_value = p.value;
      continue;
    }
    r.order[i] = static_cast<std::uint8_t>(found - std::begin(reference));
    if (p.id == quic::tp::kVersionInformation && p.value.size() == 12) {
      r.grease_version_first = p.value[4] != 0 || p.value[7] != 1;
      std::size_t at = r.grease_version_first ? 4 : 8;
      r.grease_version = static_cast<std::uint32_t>(p.value[at] << 24 | p.value[at + 1] << 16 | p.value[at + 2] << 8 |
                                                    p.value[at + 3]);
    }
  }
  return r;
}

// Chromium's transport parameters, rebuilt byte for byte from its values and the randomness each
// capture shows (order, GREASE id and value, GREASE version and its place).
TEST(QuicInitial, ChromiumsTransportParametersAreRebuiltByteForByte) {
  for (auto [id, datagrams] : {std::pair{"conn1", 6}, std::pair{"conn2", 2}}) {
    auto chromium = read(connection(id, datagrams));
    ASSERT_TRUE(chromium) << chromium.error().message();
    ASSERT_EQ(chromium->transport_parameters.size(), quic::kChromiumTransportParameterCount) << id;
    auto rebuilt = quic::encode_chromium_transport_parameters({}, randomness_of(chromium->transport_parameters));
    EXPECT_EQ(rebuilt, chromium->hello.quic_transport_parameters) << id;
  }
}

TEST(QuicInitial, DrawnTransportParametersVaryWhereChromiumsDo) {
  std::set<Bytes> bodies;
  std::set<std::vector<std::uint64_t>> orders;
  for (int i = 0; i < 16; ++i) {
    auto body = quic::encode_chromium_transport_parameters({}, quic::TransportParameterRandomness::draw());
    auto params = parse_transport_parameters(body);
    ASSERT_TRUE(params);
    ASSERT_EQ(params->size(), quic::kChromiumTransportParameterCount);
    std::vector<std::uint64_t> ids;
    int grease = 0;
    for (const auto& p : *params) {
      ids.push_back(p.id);
      if (is_grease_transport_parameter(p.id)) {
        ++grease;
        EXPECT_LT(p.value.size(), 16u);
      }
      if (p.id == quic::tp::kVersionInformation) {
        ASSERT_EQ(p.value.size(), 12u);
        std::size_t at = p.value[4] == 0 && p.value[7] == 1 ? 8 : 4;
        for (std::size_t b = at; b < at + 4; ++b) EXPECT_EQ(p.value[b] & 0x0f, 0x0a);  // a reserved version
      }
    }
    EXPECT_EQ(grease, 1);
    orders.insert(ids);
    bodies.insert(body);
  }
  EXPECT_EQ(bodies.size(), 16u);
  EXPECT_GT(orders.size(), 8u);
}

TEST(QuicVarint, RoundTripsAtEveryLengthAndReportsTruncation) {
  for (std::uint64_t v : {0ull, 63ull, 64ull, 16383ull, 16384ull, 1073741823ull, 1073741824ull, (1ull << 62) - 1}) {
    Bytes out;
    quic::write_varint(out, v);
    auto read_back = quic::read_varint(out);
    ASSERT_TRUE(read_back) << v;
    EXPECT_EQ(read_back->value, v);
    EXPECT_EQ(read_back->length, out.size());
    EXPECT_FALSE(quic::read_varint(ByteSpan(out).first(out.size() - 1))) << v;
  }
}

// The whole first flight (ngtcp2's packets, Culvert's hello and keys) as a censor reads it: the
// same fingerprint as Chromium's capture, transport parameters and datagram size included.
TEST(QuicInitial, CulvertsFirstFlightHasChromiumsFingerprint) {
  auto chromium = read(connection("conn1", 6));
  ASSERT_TRUE(chromium) << chromium.error().message();
  auto flight = quic::client_first_flight("quic.example.test");
  ASSERT_TRUE(flight) << flight.error().message();
  auto ours = read(*flight);
  ASSERT_TRUE(ours) << ours.error().message();
  EXPECT_EQ(ours->hello.sni, "quic.example.test");
  EXPECT_EQ(quic_fingerprint(*ours), quic_fingerprint(*chromium));
  for (auto size : ours->datagram_sizes) EXPECT_EQ(size, 1250u);
  for (const auto& packet : ours->packets) {
    EXPECT_EQ(packet.destination_id.size(), 8u);
    EXPECT_TRUE(packet.source_id.empty());
  }
}

// What identifies the software is the same on two connections, though the framing differs.
TEST(QuicInitial, ChromiumsFingerprintIsStableAcrossConnections) {
  auto a = read(connection("conn1", 2));
  auto b = read(connection("conn2", 2));
  ASSERT_TRUE(a && b);
  EXPECT_EQ(quic_fingerprint(*a), quic_fingerprint(*b));
  EXPECT_NE(a->packets[0].frame_types, b->packets[0].frame_types) << "expected Chromium to frame each connection anew";
  std::vector<std::uint64_t> order_a, order_b;
  for (const auto& p : a->transport_parameters) order_a.push_back(p.id);
  for (const auto& p : b->transport_parameters) order_b.push_back(p.id);
  EXPECT_NE(order_a, order_b) << "expected Chromium to shuffle its transport parameters";
  std::set<std::uint64_t> ids;
  bool grease = false;
  for (const auto& p : a->transport_parameters) {
    ids.insert(p.id);
    grease = grease || is_grease_transport_parameter(p.id);
  }
  EXPECT_TRUE(grease) << quic_fingerprint(*a);
  for (std::uint64_t id : {0x01u, 0x04u, 0x05u, 0x06u, 0x07u, 0x08u, 0x09u, 0x0fu})
    EXPECT_TRUE(ids.count(id)) << "transport parameter " << id << " missing: " << quic_fingerprint(*a);
}

TEST(QuicInitial, EveryTruncationIsAnErrorNotACrash) {
  auto datagram = capture("chromium-156.0.8078.129-conn1-1.bin");
  for (std::size_t n = 0; n < datagram.size(); ++n) {
    auto packet = open_client_initial(ByteSpan(datagram).first(n));
    EXPECT_FALSE(packet) << n;
  }
}

TEST(QuicInitial, AChangedByteFailsTheTagAndOtherPacketsAreNotInitials) {
  auto datagram = capture("chromium-156.0.8078.129-conn1-1.bin");
  auto changed = datagram;
  changed[600] ^= 0x01;
  auto opened = open_client_initial(changed);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error(), Errc::malformed);

  auto other_version = datagram;
  other_version[4] = 0x02;
  EXPECT_EQ(open_client_initial(other_version).error(), Errc::unsupported);
  auto handshake_type = datagram;
  handshake_type[0] = static_cast<std::uint8_t>((handshake_type[0] & 0xcf) | 0x20);
  EXPECT_EQ(open_client_initial(handshake_type).error(), Errc::unsupported);
  auto short_header = datagram;
  short_header[0] = 0x40;
  EXPECT_EQ(open_client_initial(short_header).error(), Errc::unsupported);
  Bytes tls = {0x16, 0x03, 0x01, 0x02, 0x00};
  EXPECT_FALSE(open_client_initial(tls));
}

TEST(QuicInitial, TransportParametersRejectTruncatedValues) {
  Bytes good = {0x01, 0x02, 0x40, 0x64, 0x04, 0x00};
  auto parsed = parse_transport_parameters(good);
  ASSERT_TRUE(parsed);
  ASSERT_EQ(parsed->size(), 2u);
  EXPECT_EQ((*parsed)[0].id, 1u);
  EXPECT_EQ((*parsed)[1].value.size(), 0u);
  Bytes truncated = {0x01, 0x05, 0x40};
  EXPECT_FALSE(parse_transport_parameters(truncated));
  EXPECT_TRUE(is_grease_transport_parameter(27));
  EXPECT_TRUE(is_grease_transport_parameter(27 + 31 * 1000));
  EXPECT_FALSE(is_grease_transport_parameter(0x0f));
}

}  // namespace
}  // namespace culvert::lab
