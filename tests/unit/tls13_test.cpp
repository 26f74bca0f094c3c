// The TLS 1.3 client's pure parts: RFC 8448 §3 key schedule and record vectors, the ClientHello
// rebuilt byte for byte from the randomness of captured Chromium hellos, and the message parsers
// on malformed input.
#include <gtest/gtest.h>

#include <set>

#include "crypto/crypto.h"
#include "lab/client_hello.h"
#include "lab/reference_fingerprints.h"
#include "tls13/client_hello.h"
#include "tls13/key_schedule.h"
#include "tls13/key_share.h"
#include "tls13/messages.h"
#include "tls13/record.h"

namespace culvert::tls13 {
namespace {

Bytes unhex(std::string_view hex) {
  Bytes out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<std::uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  return out;
}
std::string hexs(ByteSpan b) { return crypto::hex_encode(b); }

const CipherSuite& aes128() { return *find_cipher_suite(0x1301); }

// RFC 8448 §3, "Simple 1-RTT Handshake".
constexpr std::string_view kClientHello =
    "010000c00303cb34ecb1e78163ba1c38c6dacb196a6dffa21a8d9912ec18a2ef6283024dece7000006130113031302010000910000000b"
    "0009000006736572766572ff01000100000a00140012001d0017001800190100010101020103010400230000003300260024001d002099"
    "381de560e4bd43d23d8e435a7dbafeb3c06e51c13cae4d5413691e529aaf2c002b0003020304000d0020001e040305030603020308040"
    "805080604010501060102010402050206020202002d00020101001c00024001";
constexpr std::string_view kServerHello =
    "020000560303a6af06a4121860dc5e6e60249cd34c95930c8ac5cb1434dac155772ed3e2692800130100002e00330024001d0020c98288"
    "76112095fe66762bdbf7c672e156d6cc253b833df1dd69b1b04e751f0f002b00020304";
constexpr std::string_view kSharedSecret = "8bd4054fb55b9d63fdfbacf9f04b9f0d35e6d63f537563efd46272900f89492d";

TEST(Tls13KeySchedule, Rfc8448HandshakeAndApplicationSecrets) {
  Bytes transcript = unhex(kClientHello);
  Bytes sh = unhex(kServerHello);
  transcript.insert(transcript.end(), sh.begin(), sh.end());
  Bytes hello_hash = hash(aes128(), transcript);
  EXPECT_EQ(hexs(hello_hash), "860c06edc07858ee8e78f0e7428c58edd6b43f2ca3e6e95f02ed063cf0e1cad8");
  auto hs = derive_handshake_secrets(aes128(), unhex(kSharedSecret), hello_hash);
  EXPECT_EQ(hexs(hs.client_handshake_traffic), "b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21");
  EXPECT_EQ(hexs(hs.server_handshake_traffic), "b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38");
  EXPECT_EQ(hexs(hs.master), "18df06843d13a08bf2a449844c5f8a478001bc4d4c627984d5a41da8d0402919");
  auto keys = traffic_keys(aes128(), hs.server_handshake_traffic);
  EXPECT_EQ(hexs(keys.key), "3fce516009c21727d0f2e4e86ee403bc");
  EXPECT_EQ(hexs(keys.iv), "5d313eb2671276ee13000b30");
  keys = traffic_keys(aes128(), hs.client_handshake_traffic);
  EXPECT_EQ(hexs(keys.key), "dbfaa693d1762c5b666af5d950258d01");
  EXPECT_EQ(hexs(keys.iv), "5bd3c71b836e0b76bb73265f");

  Bytes finished_hash = unhex("9608102a0f1ccc6db6250b7b7e417b1a000eaada3daae4777a7686c9ff83df13");
  auto app = derive_application_secrets(aes128(), hs.master, finished_hash);
  EXPECT_EQ(hexs(app.client_application_traffic), "9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5");
  EXPECT_EQ(hexs(app.server_application_traffic), "a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643");
  EXPECT_EQ(hexs(app.exporter_master), "fe22f881176eda18eb8f44529e6792c50c9a3f89452f68d8ae311b4309d3cf50");
  keys = traffic_keys(aes128(), app.server_application_traffic);
  EXPECT_EQ(hexs(keys.key), "9f02283b6c9c07efc26bb9f2ac92e356");
  EXPECT_EQ(hexs(keys.iv), "cf782b88dd83549aadf1e984");
  keys = traffic_keys(aes128(), app.client_application_traffic);
  EXPECT_EQ(hexs(keys.key), "17422dda596ed5d9acd890e3c63f5051");
  EXPECT_EQ(hexs(keys.iv), "5b78923dee08579033e523d9");
}

constexpr std::string_view kClientApplicationSecret =
    "9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5";
constexpr std::string_view kClientDataRecord =
    "1703030043a23f7054b62c94d0affafe8228ba55cbefacea42f914aa66bcab3f2b9819a8a5b46b395bd54a9a20441e2b62974e1f5a6292"
    "a2977014bd1e3deae63aeebb21694915e4";
constexpr std::string_view kClientAlertRecord = "1703030013c9872760655666b74d7ff1153efd6db6d0b0e3";

Bytes fifty_bytes() {
  Bytes b(50);
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<std::uint8_t>(i);
  return b;
}

TEST(Tls13Record, Rfc8448ClientRecordsSealByteForByte) {
  RecordProtection seal(aes128(), unhex(kClientApplicationSecret), true);
  Bytes out;
  seal.seal(kApplicationData, fifty_bytes(), out);
  EXPECT_EQ(hexs(out), kClientDataRecord);
  out.clear();
  std::uint8_t close_notify[2] = {1, 0};
  seal.seal(kAlert, close_notify, out);
  EXPECT_EQ(hexs(out), kClientAlertRecord);
}

TEST(Tls13Record, Rfc8448ClientRecordsOpenAndTamperingIsRefused) {
  RecordProtection open(aes128(), unhex(kClientApplicationSecret), false);
  Bytes record = unhex(kClientDataRecord);
  std::size_t n = 0;
  auto type = open.open(ByteSpan(record).first(5), std::span(record).subspan(5), &n);
  ASSERT_TRUE(type);
  EXPECT_EQ(*type, kApplicationData);
  EXPECT_EQ(Bytes(record.begin() + 5, record.begin() + 5 + static_cast<std::ptrdiff_t>(n)), fifty_bytes());

  RecordProtection again(aes128(), unhex(kClientApplicationSecret), false);
  Bytes tampered = unhex(kClientDataRecord);
  tampered[20] ^= 1;
  EXPECT_FALSE(again.open(ByteSpan(tampered).first(5), std::span(tampered).subspan(5), &n));
}

TEST(Tls13Record, PaddingIsStrippedAndAllPaddingIsRefused) {
  for (std::uint16_t id : {0x1301, 0x1302, 0x1303}) {
    const CipherSuite& suite = *find_cipher_suite(id);
    Bytes secret(suite.hash_length, 7);
    RecordProtection seal(suite, secret, true), open(suite, secret, false);
    Bytes out;
    seal.seal(kHandshake, as_bytes("hello"), out, 100);
    std::size_t n = 0;
    auto type = open.open(ByteSpan(out).first(5), std::span(out).subspan(5), &n);
    ASSERT_TRUE(type) << id;
    EXPECT_EQ(*type, kHandshake);
    EXPECT_EQ(as_chars(ByteSpan(out.data() + 5, n)), "hello");
    // After KeyUpdate both sides move to the next secret and still agree.
    seal.update();
    open.update();
    out.clear();
    seal.seal(kApplicationData, as_bytes("x"), out);
    EXPECT_TRUE(open.open(ByteSpan(out).first(5), std::span(out).subspan(5), &n));
  }
}

// ---- ClientHello: rebuild each captured Chromium hello from its own random parts ----

struct ParsedHello {
  HelloRandomness randomness;
  ClientHelloSpec spec;
  std::vector<std::uint16_t> extension_types;
};

// Recovers from a captured hello what our builder draws at random, so that a byte-identical
// rebuild proves every fixed part (suites, extension bodies, lengths, GREASE placement) matches.
ParsedHello parse_reference(ByteSpan record) {
  ParsedHello p;
  Reader r(record.subspan(5 + 4));
  r.u16();
  auto random = r.take(32).value();
  std::copy(random.begin(), random.end(), p.randomness.random.begin());
  auto sid = r.prefixed(1).value();
  std::copy(sid.begin(), sid.end(), p.randomness.session_id.begin());
  auto suites = r.prefixed(2).value();
  p.randomness.grease_seed[kGreaseCipher] = suites[0];
  r.prefixed(1);
  Reader e(r.prefixed(2).value());
  std::vector<std::uint16_t> permuted;
  bool first = true;
  while (e.remaining() > 0) {
    std::uint16_t type = e.u16().value();
    ByteSpan body = e.prefixed(2).value();
    p.extension_types.push_back(type);
    if (lab::is_grease(type)) {
      p.randomness.grease_seed[first ? kGreaseExtension1 : kGreaseExtension2] = static_cast<std::uint8_t>(type >> 8);
      first = false;
      continue;
    }
    permuted.push_back(type);
    Reader b(body);
    switch (type) {
      case ext::kServerName: {
        b.u16();
        b.u8();
        p.spec.server_name = std::string(as_chars(b.prefixed(2).value()));
        break;
      }
      case ext::kSupportedGroups:
        b.u16();
        p.randomness.grease_seed[kGreaseGroup] = b.u8().value();
        break;
      case ext::kSignatureAlgorithms:
        b.u16();
        p.randomness.grease_seed[kGreaseSignatureAlgorithm] = b.u8().value();
        break;
      case ext::kSupportedVersions:
        b.u8();
        p.randomness.grease_seed[kGreaseVersion] = b.u8().value();
        break;
      case ext::kKeyShare: {
        Reader l(b.prefixed(2).value());
        while (l.remaining() > 0) {
          std::uint16_t group = l.u16().value();
          ByteSpan key = l.prefixed(2).value();
          if (!lab::is_grease(group)) p.spec.key_shares.push_back({group, Bytes(key.begin(), key.end())});
        }
        break;
      }
      case ext::kEncryptedClientHello: {
        b.u8();
        b.u16();
        b.u16();
        p.randomness.grease_seed[kGreaseEchConfigId] = b.u8().value();
        auto enc = b.prefixed(2).value();
        std::copy(enc.begin(), enc.end(), p.randomness.ech_enc.begin());
        auto payload = b.prefixed(2).value();
        p.randomness.ech_payload.assign(payload.begin(), payload.end());
        break;
      }
      default:
        break;
    }
  }
  // Express the observed order as a permutation of the builder's reference order, found by
  // building once with the identity order and reading the extension types back.
  HelloRandomness identity = p.randomness;
  for (std::size_t i = 0; i < kPermutedExtensions; ++i) identity.extension_order[i] = static_cast<std::uint8_t>(i);
  ClientHelloSpec all = p.spec;
  if (all.server_name.empty()) all.server_name = "x";
  Bytes built = build_client_hello(all, identity);
  std::vector<std::uint16_t> reference;
  Reader rb(ByteSpan(built).subspan(4 + 2 + 32 + 33));
  rb.prefixed(2);
  rb.prefixed(1);
  Reader eb(rb.prefixed(2).value());
  while (eb.remaining() > 0) {
    std::uint16_t type = eb.u16().value();
    eb.prefixed(2);
    if (!lab::is_grease(type)) reference.push_back(type);
  }
  EXPECT_EQ(reference.size(), kPermutedExtensions);
  std::size_t slot = 0;
  std::set<std::uint16_t> present(permuted.begin(), permuted.end());
  for (std::uint16_t type : permuted) {
    auto at = std::find(reference.begin(), reference.end(), type);
    EXPECT_NE(at, reference.end()) << "extension " << type << " unknown to the builder";
    if (at != reference.end()) p.randomness.extension_order[slot++] = static_cast<std::uint8_t>(at - reference.begin());
  }
  // Extensions absent from this hello (server_name for an IP) go anywhere: they are skipped.
  for (std::size_t i = 0; i < reference.size(); ++i)
    if (!present.count(reference[i])) p.randomness.extension_order[slot++] = static_cast<std::uint8_t>(i);
  return p;
}

TEST(ChromiumClientHello, RebuildsEveryCapturedChromiumHelloByteForByte) {
  int compared = 0;
  for (const auto& reference : lab::reference_hellos()) {
    if (reference.name.rfind("chromium", 0) != 0) continue;
    ByteSpan record(reference.bytes);
    ParsedHello parsed = parse_reference(record);
    Bytes rebuilt = client_hello_record(build_client_hello(parsed.spec, parsed.randomness));
    EXPECT_EQ(hexs(rebuilt), hexs(record)) << reference.name;
    ++compared;
  }
  EXPECT_GE(compared, 3);
}

TEST(ChromiumClientHello, FreshHellosCarryValidKeySharesAndChangeEveryRandomField) {
  std::set<Bytes> hellos;
  for (int i = 0; i < 20; ++i) {
    HelloRandomness r = HelloRandomness::draw();
    EXPECT_NE(grease_value(r, kGreaseExtension1), grease_value(r, kGreaseExtension2));
    EXPECT_TRUE(r.ech_payload.size() == 144 || r.ech_payload.size() == 176 || r.ech_payload.size() == 208 ||
                r.ech_payload.size() == 240);
    EXPECT_EQ(r.ech_enc[31] & 0x80, 0);  // a real X25519 public key
    ClientHelloSpec spec;
    spec.server_name = "example.com";
    hellos.insert(build_client_hello(spec, r));
  }
  EXPECT_EQ(hellos.size(), 20u);
}

TEST(Tls13KeyShare, HybridShareHasChromiumsSizesAndAgreesWithAnEncapsulatingServer) {
  auto client = KeyShare::generate(group::kX25519MlKem768);
  ASSERT_TRUE(client);
  ASSERT_EQ(client->public_bytes().size(), 1216u);
  auto server = encapsulate_x25519_mlkem768(client->public_bytes());
  ASSERT_TRUE(server);
  EXPECT_EQ(server->server_share.size(), 1120u);
  auto secret = client->agree(server->server_share);
  ASSERT_TRUE(secret);
  EXPECT_EQ(*secret, server->shared_secret);
  EXPECT_EQ(secret->size(), 64u);
  EXPECT_FALSE(client->agree(ByteSpan(server->server_share).first(100)));
}

TEST(Tls13KeyShare, ClassicalGroupsAgreeAndBadPointsAreRefused) {
  for (std::uint16_t g : {group::kX25519, group::kSecp256r1, group::kSecp384r1}) {
    auto a = KeyShare::generate(g);
    auto b = KeyShare::generate(g);
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->agree(b->public_bytes()).value(), b->agree(a->public_bytes()).value());
    EXPECT_FALSE(a->agree(Bytes(a->public_bytes().size(), 0))) << g;  // zero point / low order
  }
  EXPECT_FALSE(KeyShare::generate(0x1234));
}

// ---- message parsers on malformed input ----

TEST(Tls13Messages, ServerHelloParsesAndRejectsWhatNoServerSends) {
  Bytes sh = unhex(kServerHello);
  auto parsed = parse_server_hello(ByteSpan(sh).subspan(4));
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->cipher_suite, 0x1301);
  EXPECT_EQ(parsed->key_share_group, group::kX25519);
  EXPECT_EQ(parsed->key_share.size(), 32u);
  EXPECT_FALSE(parsed->hello_retry_request);
  for (std::size_t cut = 0; cut < sh.size() - 4; ++cut)
    EXPECT_FALSE(parse_server_hello(ByteSpan(sh).subspan(4, cut))) << cut;
  Bytes duplicate = sh;  // supported_versions twice
  duplicate.insert(duplicate.end(), {0x00, 0x2b, 0x00, 0x02, 0x03, 0x04});
  duplicate[4 + 2 + 32 + 1 + 32 + 2 + 1 + 1] += 6;
  EXPECT_FALSE(parse_server_hello(ByteSpan(duplicate).subspan(4)));
}

TEST(Tls13Messages, CertificateAndCompressedCertificate) {
  Bytes body = encode_certificate({Bytes{'D', 'E', 'R'}});
  auto chain = parse_certificate(body);
  ASSERT_TRUE(chain);
  ASSERT_EQ(chain->size(), 1u);
  EXPECT_EQ(as_chars(chain->front()), "DER");
  EXPECT_FALSE(parse_certificate(ByteSpan(body).first(body.size() - 1)));

  // Brotli, as a server with RFC 8879 sends it.
  Bytes compressed = compress_certificate(body);
  auto inflated = decompress_certificate(compressed);
  ASSERT_TRUE(inflated);
  EXPECT_EQ(*inflated, body);
  Bytes lying = compressed;
  lying[4] += 1;  // claims one byte more than the stream inflates to
  EXPECT_FALSE(decompress_certificate(lying));
  Bytes zlib = compressed;
  zlib[1] = 1;  // an algorithm we did not offer
  EXPECT_FALSE(decompress_certificate(zlib));
}

TEST(Tls13Messages, FramerSplitsAndJoinsMessagesAcrossRecords) {
  HandshakeFramer f;
  Bytes two = {8, 0, 0, 2, 0, 0, 20, 0, 0, 1, 9};
  f.append(ByteSpan(two).first(3));
  EXPECT_FALSE(f.next().value());
  f.append(ByteSpan(two).subspan(3));
  auto a = f.next().value();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->type, 8);
  auto b = f.next().value();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->type, 20);
  EXPECT_TRUE(f.empty());
  f.append(Bytes{11, 0x10, 0, 0});  // 1 MiB: over the limit
  EXPECT_FALSE(f.next());
}

TEST(Tls13Messages, KeyUpdateAndTicketShapes) {
  EXPECT_EQ(parse_key_update(Bytes{0}).value(), false);
  EXPECT_EQ(parse_key_update(Bytes{1}).value(), true);
  EXPECT_FALSE(parse_key_update(Bytes{2}));
  EXPECT_FALSE(parse_key_update(Bytes{}));
  Bytes ticket = {0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 1, 7, 0, 0};
  EXPECT_TRUE(parse_new_session_ticket(ticket));
  EXPECT_FALSE(parse_new_session_ticket(ByteSpan(ticket).first(10)));
}

}  // namespace
}  // namespace culvert::tls13
