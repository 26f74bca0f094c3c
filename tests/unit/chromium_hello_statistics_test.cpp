// Statistics over 1,000 of Culvert's ClientHellos against a sample of hellos captured from
// Debian's Chromium (lab/data/clienthello-sample/, scripts/capture-client-hellos.py): the same
// extension set, extension orders drawn as uniform permutations, GREASE values drawn per field and
// independently as Chromium draws them, no constant byte where Chromium has randomness, and the
// GREASE ECH payload lengths from the same set. Thresholds are chi-square values at p ≈ 1e-6, so a
// correct draw fails about once in a million runs.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "lab/client_hello.h"
#include "lab/reference_fingerprints.h"
#include "tls13/client_hello.h"
#include "tls13/key_share.h"

namespace culvert::tls13 {
namespace {

// The parts of a hello that the statistics look at.
struct Observed {
  std::vector<std::uint16_t> order;  // non-GREASE extension types in wire order
  std::uint16_t first_extension = 0, last_extension = 0;
  std::map<std::string, std::uint16_t> grease;  // field -> GREASE value
  std::map<std::string, Bytes> random_fields;   // field -> bytes that must look random
  std::size_t ech_payload = 0;
  std::multiset<std::uint16_t> extension_set;
};

using lab::is_grease;

Observed observe(ByteSpan record) {
  Observed o;
  Reader r(record.subspan(5 + 4));
  r.u16();
  auto random = r.take(32).value();
  o.random_fields["random"].assign(random.begin(), random.end());
  auto sid = r.prefixed(1).value();
  o.random_fields["session_id"].assign(sid.begin(), sid.end());
  Reader suites(r.prefixed(2).value());
  o.grease["cipher"] = suites.u16().value();
  r.prefixed(1);
  Reader e(r.prefixed(2).value());
  bool first = true;
  while (e.remaining() > 0) {
    std::uint16_t type = e.u16().value();
    ByteSpan body = e.prefixed(2).value();
    if (is_grease(type)) {
      (first ? o.first_extension : o.last_extension) = type;
      first = false;
      continue;
    }
    o.order.push_back(type);
    o.extension_set.insert(type);
    Reader b(body);
    switch (type) {
      case ext::kSupportedGroups:
        b.u16();
        o.grease["group"] = b.u16().value();
        break;
      case ext::kSignatureAlgorithms:
        b.u16();
        o.grease["signature_algorithm"] = b.u16().value();
        break;
      case ext::kSupportedVersions:
        b.u8();
        o.grease["version"] = b.u16().value();
        break;
      case ext::kKeyShare: {
        Reader l(b.prefixed(2).value());
        while (l.remaining() > 0) {
          std::uint16_t g = l.u16().value();
          ByteSpan key = l.prefixed(2).value();
          if (is_grease(g)) {
            o.grease["key_share"] = g;
          } else {
            o.random_fields["key_share_" + std::to_string(g)].assign(key.begin(), key.end());
          }
        }
        break;
      }
      case ext::kEncryptedClientHello: {
        b.u8();
        b.u16();
        b.u16();
        o.random_fields["ech_config_id"] = {b.u8().value()};
        auto enc = b.prefixed(2).value();
        o.random_fields["ech_enc"].assign(enc.begin(), enc.end());
        auto payload = b.prefixed(2).value();
        o.ech_payload = payload.size();
        // Payloads differ in length; the first 144 bytes are present in every one.
        o.random_fields["ech_payload"].assign(payload.begin(), payload.begin() + 144);
        break;
      }
      default:
        break;
    }
  }
  o.grease["extension1"] = o.first_extension;
  o.grease["extension2"] = o.last_extension;
  return o;
}

std::vector<Observed> chromium_sample() {
  std::vector<Observed> out;
  std::filesystem::path dir = std::filesystem::path(CULVERT_SOURCE_DIR) / "lab" / "data" / "clienthello-sample";
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    Bytes bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    out.push_back(observe(bytes));
  }
  return out;
}

std::vector<Observed> culvert_sample(std::size_t n) {
  // Real key shares once (their bytes are checked for randomness separately, below); the draw of
  // everything else is per hello, as in ClientStream.
  std::vector<Observed> out;
  for (std::size_t i = 0; i < n; ++i) {
    ClientHelloSpec spec;
    spec.server_name = "localhost";
    for (std::uint16_t g : {group::kX25519MlKem768, group::kX25519})
      spec.key_shares.push_back({g, KeyShare::generate(g).value().public_bytes()});
    out.push_back(observe(client_hello_record(build_client_hello(spec, HelloRandomness::draw()))));
  }
  return out;
}

// Pearson's chi-square of observed counts against equal expected counts.
double chi_square(const std::vector<double>& counts) {
  double total = 0;
  for (double c : counts) total += c;
  double expected = total / static_cast<double>(counts.size());
  double x = 0;
  for (double c : counts) x += (c - expected) * (c - expected) / expected;
  return x;
}
// Critical values at p = 1e-6.
constexpr double kChi2Df15 = 61.1;
constexpr double kChi2Df16 = 63.2;

class HelloStatistics : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    chromium_ = new std::vector<Observed>(chromium_sample());
    culvert_ = new std::vector<Observed>(culvert_sample(1000));
  }
  static void TearDownTestSuite() {
    delete chromium_;
    delete culvert_;
  }
  static std::vector<Observed>* chromium_;
  static std::vector<Observed>* culvert_;
};
std::vector<Observed>* HelloStatistics::chromium_ = nullptr;
std::vector<Observed>* HelloStatistics::culvert_ = nullptr;

TEST_F(HelloStatistics, SameExtensionSetBetweenTwoGreaseExtensions) {
  ASSERT_GE(chromium_->size(), 30u) << "capture more: scripts/capture-client-hellos.py --browsers chromium";
  const auto& reference = chromium_->front().extension_set;
  EXPECT_EQ(reference.size(), kPermutedExtensions);
  for (const auto* sample : {chromium_, culvert_}) {
    for (const auto& o : *sample) {
      EXPECT_EQ(o.extension_set, reference);
      EXPECT_TRUE(is_grease(o.first_extension) && is_grease(o.last_extension));
      EXPECT_NE(o.first_extension, o.last_extension);
    }
  }
}

TEST_F(HelloStatistics, ExtensionOrdersAreUniformPermutationsInBoth) {
  for (const auto* sample : {chromium_, culvert_}) {
    std::set<std::vector<std::uint16_t>> orders;
    std::map<std::uint16_t, std::vector<double>> positions;
    for (const auto& o : *sample) {
      orders.insert(o.order);
      for (std::size_t i = 0; i < o.order.size(); ++i) {
        auto& counts = positions[o.order[i]];
        counts.resize(kPermutedExtensions);
        counts[i] += 1;
      }
    }
    // 17! orders: a repeat among a few hundred hellos would mean a far smaller set of orders.
    EXPECT_EQ(orders.size(), sample->size());
    for (const auto& [type, counts] : positions)
      EXPECT_LT(chi_square(counts), kChi2Df16)
          << "extension " << type << (sample == culvert_ ? " (culvert)" : " (chromium)");
  }
}

TEST_F(HelloStatistics, GreaseValuesAreDrawnPerFieldLikeChromiums) {
  std::vector<std::string> fields = {"cipher", "group", "extension1", "extension2", "version", "signature_algorithm"};
  for (const auto* sample : {chromium_, culvert_}) {
    std::string who = sample == culvert_ ? "culvert" : "chromium";
    for (const auto& o : *sample) EXPECT_EQ(o.grease.at("key_share"), o.grease.at("group")) << who;
    for (const auto& f : fields) {
      std::vector<double> counts(16);
      for (const auto& o : *sample) {
        EXPECT_TRUE(is_grease(o.grease.at(f)));
        counts[o.grease.at(f) >> 12] += 1;
      }
      if (sample == culvert_) {
        EXPECT_LT(chi_square(counts), kChi2Df15) << f;
      } else {
        EXPECT_GE(std::count_if(counts.begin(), counts.end(), [](double c) { return c > 0; }), 8) << who << " " << f;
      }
    }
    // Independent fields: any two agree about 1 time in 16, in both samples.
    for (std::size_t a = 0; a < fields.size(); ++a) {
      for (std::size_t b = a + 1; b < fields.size(); ++b) {
        double same = 0;
        for (const auto& o : *sample) same += o.grease.at(fields[a]) == o.grease.at(fields[b]);
        EXPECT_LT(same / static_cast<double>(sample->size()), 0.25) << who << " " << fields[a] << "=" << fields[b];
      }
    }
  }
}

TEST_F(HelloStatistics, NoConstantByteWhereChromiumHasRandomness) {
  for (const auto& [field, bytes] : chromium_->front().random_fields) {
    for (const auto* sample : {chromium_, culvert_}) {
      std::string who = sample == culvert_ ? "culvert" : "chromium";
      ASSERT_TRUE(sample->front().random_fields.count(field)) << who << " lacks " << field;
      std::size_t length = sample->front().random_fields.at(field).size();
      EXPECT_EQ(length, bytes.size()) << who << " " << field;
      for (std::size_t i = 0; i < length; ++i) {
        std::set<std::uint8_t> values;
        for (const auto& o : *sample) values.insert(o.random_fields.at(field)[i]);
        EXPECT_GT(values.size(), 1u) << who << " " << field << " byte " << i << " is constant";
      }
    }
  }
}

TEST_F(HelloStatistics, EchPayloadLengthsComeFromTheSameSet) {
  std::map<std::size_t, double> ours, theirs;
  for (const auto& o : *culvert_) ours[o.ech_payload] += 1;
  for (const auto& o : *chromium_) theirs[o.ech_payload] += 1;
  std::vector<double> counts;
  for (const auto& [length, n] : ours) counts.push_back(n);
  EXPECT_EQ(counts.size(), 4u);
  EXPECT_LT(chi_square(counts), 40.0);  // 3 df; p ≈ 1e-8
  for (const auto& [length, n] : theirs) EXPECT_TRUE(ours.count(length)) << "Chromium payload length " << length;
  EXPECT_GE(theirs.size(), 3u) << "Chromium draws among several lengths";
}

// JA3 string with its extension list (third field) sorted.
std::string ja3_sorted(const std::string& ja3) {
  std::vector<std::string> fields;
  std::size_t start = 0;
  for (std::size_t comma; (comma = ja3.find(',', start)) != std::string::npos; start = comma + 1)
    fields.push_back(ja3.substr(start, comma - start));
  fields.push_back(ja3.substr(start));
  std::vector<int> extensions;
  std::size_t at = 0;
  while (at < fields[2].size()) {
    std::size_t dash = fields[2].find('-', at);
    if (dash == std::string::npos) dash = fields[2].size();
    extensions.push_back(std::stoi(fields[2].substr(at, dash - at)));
    at = dash + 1;
  }
  std::sort(extensions.begin(), extensions.end());
  std::string out = fields[0] + "," + fields[1] + ",";
  for (std::size_t i = 0; i < extensions.size(); ++i) out += (i ? "-" : "") + std::to_string(extensions[i]);
  return out + "," + fields[3] + "," + fields[4];
}

TEST(HelloFingerprint, Ja4EqualsChromiumsWithAndWithoutServerName) {
  for (const char* name : {"localhost", ""}) {
    ClientHelloSpec spec;
    spec.server_name = name;
    for (std::uint16_t g : {group::kX25519MlKem768, group::kX25519})
      spec.key_shares.push_back({g, KeyShare::generate(g).value().public_bytes()});
    Bytes ours = client_hello_record(build_client_hello(spec, HelloRandomness::draw()));
    auto parsed = lab::parse_client_hello(ours).value();
    std::string expected = *name ? "t13d1517h2_8daaf6152771_cb7bf5808d99" : "t13i1516h2_8daaf6152771_cb7bf5808d99";
    EXPECT_EQ(lab::ja4(parsed), expected);
    // JA3 hashes the extensions in wire order, which both shuffle per connection; with the
    // extension field sorted, ours equals every captured Chromium hello's of the same kind.
    int compared = 0;
    for (const auto& reference : lab::reference_hellos()) {
      bool ip = reference.name.find("-ip-") != std::string::npos;
      if (reference.name.rfind("chromium", 0) != 0 || ip != (*name == 0)) continue;
      auto theirs = lab::parse_client_hello(reference.bytes).value();
      EXPECT_EQ(ja3_sorted(lab::ja3_string(parsed)), ja3_sorted(lab::ja3_string(theirs))) << reference.name;
      ++compared;
    }
    EXPECT_GE(compared, 1);
  }
}

}  // namespace
}  // namespace culvert::tls13
