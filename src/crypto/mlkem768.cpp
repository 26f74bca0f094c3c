#include "crypto/mlkem768.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "crypto/crypto.h"

namespace culvert::crypto::mlkem768 {
namespace {

constexpr int kN = 256;
constexpr int kQ = 3329;
constexpr int kK = 3;
constexpr int kDu = 10;
constexpr int kDv = 4;
constexpr std::size_t kPolyBytes = 384;  // ByteEncode12 of one polynomial
constexpr std::size_t kPkeSecretKeySize = kK * kPolyBytes;

using Poly = std::array<std::uint16_t, kN>;  // coefficients in [0, q)
using Vec = std::array<Poly, kK>;

// ---- hashes (FIPS 203 §4.1) ----

void digest(const EVP_MD* md, std::initializer_list<std::span<const std::uint8_t>> parts, std::uint8_t* out,
            std::size_t out_len) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx && EVP_DigestInit_ex(ctx, md, nullptr) == 1;
  for (auto p : parts) ok = ok && EVP_DigestUpdate(ctx, p.data(), p.size()) == 1;
  if (EVP_MD_get_flags(md) & EVP_MD_FLAG_XOF) {
    ok = ok && EVP_DigestFinalXOF(ctx, out, out_len) == 1;
  } else {
    ok = ok && EVP_DigestFinal_ex(ctx, out, nullptr) == 1;
  }
  EVP_MD_CTX_free(ctx);
  if (!ok) std::abort();  // libcrypto without SHA-3 cannot run this code at all
}

// G = SHA3-512, H = SHA3-256, J = SHAKE256(·, 32), PRF_eta = SHAKE256(s || b, 64·eta).
void hash_g(std::initializer_list<std::span<const std::uint8_t>> parts, std::uint8_t out[64]) {
  digest(EVP_sha3_512(), parts, out, 64);
}
void hash_h(std::span<const std::uint8_t> in, std::uint8_t out[32]) { digest(EVP_sha3_256(), {in}, out, 32); }

// ---- field and polynomial arithmetic ----

std::uint16_t reduce(std::uint32_t x) { return static_cast<std::uint16_t>(x % kQ); }
std::uint16_t add(std::uint16_t a, std::uint16_t b) { return reduce(std::uint32_t{a} + b); }
std::uint16_t sub(std::uint16_t a, std::uint16_t b) { return reduce(std::uint32_t{a} + kQ - b); }
std::uint16_t mul(std::uint16_t a, std::uint16_t b) { return reduce(std::uint32_t{a} * b); }

std::uint16_t power(std::uint32_t base, unsigned e) {
  std::uint32_t r = 1;
  for (; e; e >>= 1, base = base * base % kQ)
    if (e & 1) r = r * base % kQ;
  return static_cast<std::uint16_t>(r);
}
unsigned bit_rev7(unsigned i) {
  unsigned r = 0;
  for (int b = 0; b < 7; ++b) r |= ((i >> b) & 1) << (6 - b);
  return r;
}

struct Tables {
  std::array<std::uint16_t, 128> zetas{};   // 17^BitRev7(i)
  std::array<std::uint16_t, 128> gammas{};  // 17^(2·BitRev7(i)+1)
  Tables() {
    for (unsigned i = 0; i < 128; ++i) {
      zetas[i] = power(17, bit_rev7(i));
      gammas[i] = power(17, 2 * bit_rev7(i) + 1);
    }
  }
};
const Tables& tables() {
  static const Tables t;
  return t;
}

// Algorithm 9.
void ntt(Poly& f) {
  const auto& z = tables().zetas;
  unsigned i = 1;
  for (int len = 128; len >= 2; len /= 2) {
    for (int start = 0; start < kN; start += 2 * len) {
      std::uint16_t zeta = z[i++];
      for (int j = start; j < start + len; ++j) {
        std::uint16_t t = mul(zeta, f[j + len]);
        f[j + len] = sub(f[j], t);
        f[j] = add(f[j], t);
      }
    }
  }
}

// Algorithm 10.
void inverse_ntt(Poly& f) {
  const auto& z = tables().zetas;
  unsigned i = 127;
  for (int len = 2; len <= 128; len *= 2) {
    for (int start = 0; start < kN; start += 2 * len) {
      std::uint16_t zeta = z[i--];
      for (int j = start; j < start + len; ++j) {
        std::uint16_t t = f[j];
        f[j] = add(t, f[j + len]);
        f[j + len] = mul(zeta, sub(f[j + len], t));
      }
    }
  }
  for (auto& c : f) c = mul(c, 3303);  // 128^-1 mod q
}

// Algorithms 11 and 12: acc += f ∘ g in the NTT domain.
void multiply_add(Poly& acc, const Poly& f, const Poly& g) {
  const auto& gammas = tables().gammas;
  for (int i = 0; i < 128; ++i) {
    std::uint16_t a0 = f[2 * i], a1 = f[2 * i + 1], b0 = g[2 * i], b1 = g[2 * i + 1];
    std::uint16_t c0 = add(mul(a0, b0), mul(mul(a1, b1), gammas[i]));
    std::uint16_t c1 = add(mul(a0, b1), mul(a1, b0));
    acc[2 * i] = add(acc[2 * i], c0);
    acc[2 * i + 1] = add(acc[2 * i + 1], c1);
  }
}

void add_to(Poly& acc, const Poly& x) {
  for (int i = 0; i < kN; ++i) acc[i] = add(acc[i], x[i]);
}

// ---- sampling (Algorithms 7 and 8) ----

// SampleNTT: rejection sampling from SHAKE128(rho || j || i). OpenSSL 3.0 can squeeze an XOF only
// once, so ask for a generous prefix and, in the rare case it runs out, ask again for more (an XOF's
// shorter output is a prefix of its longer one).
Poly sample_ntt(std::span<const std::uint8_t, 32> rho, std::uint8_t j, std::uint8_t i) {
  std::uint8_t suffix[2] = {j, i};
  std::size_t want = 168 * 5;  // 840 bytes: enough but with probability ~2^-100
  for (;;) {
    std::vector<std::uint8_t> stream(want);
    digest(EVP_shake128(), {rho, suffix}, stream.data(), stream.size());
    Poly a{};
    int count = 0;
    for (std::size_t p = 0; p + 3 <= stream.size() && count < kN; p += 3) {
      std::uint16_t d1 = stream[p] | ((stream[p + 1] & 0x0f) << 8);
      std::uint16_t d2 = (stream[p + 1] >> 4) | (stream[p + 2] << 4);
      if (d1 < kQ) a[count++] = d1;
      if (d2 < kQ && count < kN) a[count++] = d2;
    }
    if (count == kN) return a;
    want *= 2;
  }
}

// SamplePolyCBD with eta = 2 from PRF_2(sigma, n) = SHAKE256(sigma || n, 128).
Poly sample_cbd2(std::span<const std::uint8_t, 32> sigma, std::uint8_t n) {
  std::uint8_t bytes[128];
  std::uint8_t suffix[1] = {n};
  digest(EVP_shake256(), {sigma, suffix}, bytes, sizeof bytes);
  Poly f{};
  for (int i = 0; i < kN; ++i) {
    // Coefficient i uses bits 4i..4i+3: x = b0 + b1, y = b2 + b3.
    std::uint8_t nibble = (bytes[i / 2] >> (4 * (i & 1))) & 0x0f;
    int x = (nibble & 1) + ((nibble >> 1) & 1);
    int y = ((nibble >> 2) & 1) + ((nibble >> 3) & 1);
    f[i] = static_cast<std::uint16_t>((x - y + kQ) % kQ);
  }
  return f;
}

// ---- encoding (Algorithms 5 and 6) and compression (§4.2.1) ----

void byte_encode(const Poly& f, int d, std::uint8_t* out) {
  std::uint32_t acc = 0;
  int bits = 0;
  std::size_t o = 0;
  for (int i = 0; i < kN; ++i) {
    acc |= std::uint32_t{f[i]} << bits;
    bits += d;
    while (bits >= 8) {
      out[o++] = static_cast<std::uint8_t>(acc);
      acc >>= 8;
      bits -= 8;
    }
  }
}

// For d = 12 the value is reduced mod q (FIPS 203 Algorithm 6); `in_range` reports whether every
// coefficient already was, which is the encapsulation key's modulus check.
Poly byte_decode(const std::uint8_t* in, int d, bool* in_range = nullptr) {
  Poly f{};
  std::uint32_t acc = 0;
  int bits = 0;
  std::size_t p = 0;
  std::uint32_t mask = (1u << d) - 1;
  bool ok = true;
  for (int i = 0; i < kN; ++i) {
    while (bits < d) {
      acc |= std::uint32_t{in[p++]} << bits;
      bits += 8;
    }
    std::uint32_t v = acc & mask;
    acc >>= d;
    bits -= d;
    if (d == 12) {
      ok &= v < kQ;
      v %= kQ;
    }
    f[i] = static_cast<std::uint16_t>(v);
  }
  if (in_range) *in_range = ok;
  return f;
}

std::uint16_t compress(std::uint16_t x, int d) {
  // round(2^d / q · x) mod 2^d, as integer arithmetic.
  std::uint32_t v = ((std::uint32_t{x} << d) + kQ / 2) / kQ;
  return static_cast<std::uint16_t>(v & ((1u << d) - 1));
}
std::uint16_t decompress(std::uint16_t y, int d) {
  return static_cast<std::uint16_t>((std::uint32_t{y} * kQ + (1u << (d - 1))) >> d);
}

Poly compressed(const Poly& f, int d) {
  Poly r;
  for (int i = 0; i < kN; ++i) r[i] = compress(f[i], d);
  return r;
}
Poly decompressed(const Poly& f, int d) {
  Poly r;
  for (int i = 0; i < kN; ++i) r[i] = decompress(f[i], d);
  return r;
}

using Matrix = std::array<Vec, kK>;  // A_hat[i][j]
Matrix expand_matrix(std::span<const std::uint8_t, 32> rho) {
  Matrix a;
  for (int i = 0; i < kK; ++i)
    for (int j = 0; j < kK; ++j) a[i][j] = sample_ntt(rho, static_cast<std::uint8_t>(j), static_cast<std::uint8_t>(i));
  return a;
}

// ---- K-PKE (Algorithms 13–15) ----

void pke_keygen(std::span<const std::uint8_t, 32> d, std::uint8_t* ek, std::uint8_t* dk_pke) {
  std::uint8_t g[64];
  std::uint8_t k_byte[1] = {kK};
  hash_g({d, k_byte}, g);
  std::span<const std::uint8_t, 32> rho(g, 32), sigma(g + 32, 32);
  Matrix a = expand_matrix(rho);
  std::uint8_t n = 0;
  Vec s, e;
  for (auto& p : s) p = sample_cbd2(sigma, n++);
  for (auto& p : e) p = sample_cbd2(sigma, n++);
  for (auto& p : s) ntt(p);
  for (auto& p : e) ntt(p);
  for (int i = 0; i < kK; ++i) {
    Poly t = e[i];
    for (int j = 0; j < kK; ++j) multiply_add(t, a[i][j], s[j]);
    byte_encode(t, 12, ek + i * kPolyBytes);
    byte_encode(s[i], 12, dk_pke + i * kPolyBytes);
  }
  std::memcpy(ek + kPkeSecretKeySize, rho.data(), 32);
  OPENSSL_cleanse(g, sizeof g);
}

void pke_encrypt(const std::uint8_t* ek, std::span<const std::uint8_t, 32> m, std::span<const std::uint8_t, 32> r,
                 std::uint8_t* c) {
  Vec t;
  for (int i = 0; i < kK; ++i) t[i] = byte_decode(ek + i * kPolyBytes, 12);
  std::span<const std::uint8_t, 32> rho(ek + kPkeSecretKeySize, 32);
  Matrix a = expand_matrix(rho);
  std::uint8_t n = 0;
  Vec y, e1;
  for (auto& p : y) p = sample_cbd2(r, n++);
  for (auto& p : e1) p = sample_cbd2(r, n++);
  Poly e2 = sample_cbd2(r, n);
  for (auto& p : y) ntt(p);
  for (int i = 0; i < kK; ++i) {
    Poly u{};
    for (int j = 0; j < kK; ++j) multiply_add(u, a[j][i], y[j]);  // A^T
    inverse_ntt(u);
    add_to(u, e1[i]);
    byte_encode(compressed(u, kDu), kDu, c + i * 32 * kDu);
  }
  Poly v{};
  for (int i = 0; i < kK; ++i) multiply_add(v, t[i], y[i]);
  inverse_ntt(v);
  add_to(v, e2);
  Poly mu = decompressed(byte_decode(m.data(), 1), 1);
  add_to(v, mu);
  byte_encode(compressed(v, kDv), kDv, c + kK * 32 * kDu);
}

void pke_decrypt(const std::uint8_t* dk_pke, const std::uint8_t* c, std::uint8_t m[32]) {
  Poly w{};
  for (int i = 0; i < kK; ++i) {
    Poly u = decompressed(byte_decode(c + i * 32 * kDu, kDu), kDu);
    ntt(u);
    Poly s = byte_decode(dk_pke + i * kPolyBytes, 12);
    multiply_add(w, s, u);
  }
  inverse_ntt(w);
  Poly v = decompressed(byte_decode(c + kK * 32 * kDu, kDv), kDv);
  for (int i = 0; i < kN; ++i) w[i] = sub(v[i], w[i]);
  byte_encode(compressed(w, 1), 1, m);
}

}  // namespace

KeyPair generate_key_pair(std::span<const std::uint8_t, 32> d, std::span<const std::uint8_t, 32> z) {
  KeyPair kp;
  std::uint8_t* dk = kp.decapsulation_key.data();
  pke_keygen(d, kp.encapsulation_key.data(), dk);
  // dk = dk_pke || ek || H(ek) || z
  std::memcpy(dk + kPkeSecretKeySize, kp.encapsulation_key.data(), kEncapsulationKeySize);
  hash_h(kp.encapsulation_key, dk + kPkeSecretKeySize + kEncapsulationKeySize);
  std::memcpy(dk + kPkeSecretKeySize + kEncapsulationKeySize + 32, z.data(), 32);
  return kp;
}

KeyPair generate_key_pair() {
  std::array<std::uint8_t, 64> seed;
  random_bytes(seed);
  KeyPair kp = generate_key_pair(std::span<const std::uint8_t, 32>(seed.data(), 32),
                                 std::span<const std::uint8_t, 32>(seed.data() + 32, 32));
  OPENSSL_cleanse(seed.data(), seed.size());
  return kp;
}

std::optional<Encapsulation> encapsulate(std::span<const std::uint8_t, kEncapsulationKeySize> ek,
                                         std::span<const std::uint8_t, 32> m) {
  // Modulus check (FIPS 203 §7.2): every coefficient of t_hat encoded below q.
  for (int i = 0; i < kK; ++i) {
    bool in_range = false;
    byte_decode(ek.data() + i * kPolyBytes, 12, &in_range);
    if (!in_range) return std::nullopt;
  }
  std::uint8_t h[32];
  hash_h(ek, h);
  std::uint8_t g[64];
  hash_g({m, h}, g);
  Encapsulation out;
  std::memcpy(out.shared_secret.data(), g, 32);
  pke_encrypt(ek.data(), m, std::span<const std::uint8_t, 32>(g + 32, 32), out.ciphertext.data());
  OPENSSL_cleanse(g, sizeof g);
  return out;
}

std::optional<Encapsulation> encapsulate(std::span<const std::uint8_t, kEncapsulationKeySize> ek) {
  std::array<std::uint8_t, 32> m;
  random_bytes(m);
  auto out = encapsulate(ek, m);
  OPENSSL_cleanse(m.data(), m.size());
  return out;
}

SharedSecret decapsulate(std::span<const std::uint8_t, kDecapsulationKeySize> dk,
                         std::span<const std::uint8_t, kCiphertextSize> ciphertext) {
  const std::uint8_t* dk_pke = dk.data();
  const std::uint8_t* ek = dk.data() + kPkeSecretKeySize;
  const std::uint8_t* h = ek + kEncapsulationKeySize;
  const std::uint8_t* z = h + 32;
  std::uint8_t m[32];
  pke_decrypt(dk_pke, ciphertext.data(), m);
  std::uint8_t g[64];
  hash_g({std::span<const std::uint8_t>(m, 32), std::span<const std::uint8_t>(h, 32)}, g);
  SharedSecret rejected;
  digest(EVP_shake256(), {std::span<const std::uint8_t>(z, 32), ciphertext}, rejected.data(), rejected.size());
  Ciphertext again;
  pke_encrypt(ek, std::span<const std::uint8_t, 32>(m, 32), std::span<const std::uint8_t, 32>(g + 32, 32),
              again.data());
  // Constant-time select: K' if the re-encryption matches, else the rejection secret.
  std::uint8_t differ = CRYPTO_memcmp(again.data(), ciphertext.data(), kCiphertextSize) != 0;
  std::uint8_t mask = static_cast<std::uint8_t>(-differ);  // 0xff when they differ
  SharedSecret out;
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<std::uint8_t>((g[i] & ~mask) | (rejected[i] & mask));
  OPENSSL_cleanse(m, sizeof m);
  OPENSSL_cleanse(g, sizeof g);
  return out;
}

}  // namespace culvert::crypto::mlkem768
