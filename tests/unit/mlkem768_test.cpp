// ML-KEM-768 against the accumulated known-answer vectors of C2SP CCTV (10,000 deterministic
// key generations, encapsulations and decapsulations of valid and random ciphertexts, all hashed
// into one SHAKE-128 digest). The expected digest is the FIPS 203 final value used by BoringSSL
// and LibreSSL (the CCTV README's own value is for the draft, which lacked the k in G(d || k)).
#include "crypto/mlkem768.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <vector>

#include "crypto/crypto.h"

namespace culvert::crypto {
namespace {

using namespace mlkem768;

TEST(MlKem768, AccumulatedKnownAnswerVectorsMatchFips203) {
  constexpr int kIterations = 10000;
  constexpr std::size_t kPerIteration = 64 + 32 + kCiphertextSize;
  // The deterministic RNG: SHAKE-128 of the empty string, read as one long stream.
  std::vector<std::uint8_t> rng(kIterations * kPerIteration);
  EVP_MD_CTX* drng = EVP_MD_CTX_new();
  ASSERT_EQ(EVP_DigestInit_ex(drng, EVP_shake128(), nullptr), 1);
  ASSERT_EQ(EVP_DigestFinalXOF(drng, rng.data(), rng.size()), 1);
  EVP_MD_CTX_free(drng);
  EXPECT_EQ(hex_encode(ByteSpan(rng.data(), 16)), "7f9c2ba4e88f827d616045507605853e");

  EVP_MD_CTX* results = EVP_MD_CTX_new();
  ASSERT_EQ(EVP_DigestInit_ex(results, EVP_shake128(), nullptr), 1);
  const std::uint8_t* p = rng.data();
  for (int i = 0; i < kIterations; ++i) {
    std::span<const std::uint8_t, 32> d(p, 32), z(p + 32, 32), m(p + 64, 32);
    std::span<const std::uint8_t, kCiphertextSize> random_ct(p + 96, kCiphertextSize);
    p += kPerIteration;
    KeyPair kp = generate_key_pair(d, z);
    EVP_DigestUpdate(results, kp.encapsulation_key.data(), kp.encapsulation_key.size());
    EVP_DigestUpdate(results, kp.decapsulation_key.data(), kp.decapsulation_key.size());
    auto enc = encapsulate(kp.encapsulation_key, m);
    ASSERT_TRUE(enc);
    EVP_DigestUpdate(results, enc->ciphertext.data(), enc->ciphertext.size());
    EVP_DigestUpdate(results, enc->shared_secret.data(), enc->shared_secret.size());
    ASSERT_EQ(decapsulate(kp.decapsulation_key, enc->ciphertext), enc->shared_secret) << "iteration " << i;
    SharedSecret rejected = decapsulate(kp.decapsulation_key, random_ct);
    EVP_DigestUpdate(results, rejected.data(), rejected.size());
  }
  std::array<std::uint8_t, 32> out;
  ASSERT_EQ(EVP_DigestFinalXOF(results, out.data(), out.size()), 1);
  EVP_MD_CTX_free(results);
  EXPECT_EQ(hex_encode(out), "f959d18d3d1180121433bf0e05f11e7908cf9d03edc150b2b07cb90bef5bc1c1");
}

TEST(MlKem768, EncapsulationKeyWithCoefficientOutOfRangeIsRefused) {
  KeyPair kp = generate_key_pair();
  EXPECT_TRUE(encapsulate(kp.encapsulation_key));
  // Set the first 12-bit coefficient to q = 3329 (0xd01): a non-canonical encoding.
  EncapsulationKey bad = kp.encapsulation_key;
  bad[0] = 0x01;
  bad[1] = static_cast<std::uint8_t>((bad[1] & 0xf0) | 0x0d);
  EXPECT_FALSE(encapsulate(bad));
}

TEST(MlKem768, FreshKeysAgreeAndAlteredCiphertextIsRejectedImplicitly) {
  KeyPair kp = generate_key_pair();
  auto enc = encapsulate(kp.encapsulation_key);
  ASSERT_TRUE(enc);
  EXPECT_EQ(decapsulate(kp.decapsulation_key, enc->ciphertext), enc->shared_secret);
  Ciphertext altered = enc->ciphertext;
  altered[500] ^= 1;
  EXPECT_NE(decapsulate(kp.decapsulation_key, altered), enc->shared_secret);
}

}  // namespace
}  // namespace culvert::crypto
