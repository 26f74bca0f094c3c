#include "transport/tls/auth.h"

#include <cstring>

#include "crypto/crypto.h"

namespace culvert::tls {
namespace {

constexpr std::string_view kContext = "culvert auth v1";

crypto::Digest compute_tag(const std::array<std::uint8_t, 32>& secret, const Exporter& exporter, std::uint8_t version,
                           const std::array<std::uint8_t, 8>& key_id) {
  Bytes message;
  Writer w(message);
  w.text(kContext);
  w.bytes(exporter);
  w.u8(version);
  w.bytes(key_id);
  return crypto::hmac_sha256(secret, message);
}

}  // namespace

Bytes make_preamble(const UserCredential& credential, const Exporter& exporter, std::uint8_t version) {
  Bytes out;
  Writer w(out);
  w.u8(version);
  w.bytes(credential.key_id);
  w.bytes(compute_tag(credential.secret, exporter, version, credential.key_id));
  return out;
}

Result<Preamble> parse_preamble(ByteSpan input) {
  if (input.size() < kPreambleSize) return fail(Errc::truncated);
  Preamble p;
  p.version = input[0];
  std::memcpy(p.key_id.data(), input.data() + 1, 8);
  std::memcpy(p.tag.data(), input.data() + 9, 32);
  return p;
}

bool verify_preamble(const Preamble& preamble, const std::array<std::uint8_t, 32>& secret, const Exporter& exporter) {
  auto expected = compute_tag(secret, exporter, preamble.version, preamble.key_id);
  return crypto::equal_constant_time(expected, preamble.tag);
}

}  // namespace culvert::tls
