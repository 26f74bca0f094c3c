#include "tls13/record.h"

#include <openssl/crypto.h>

#include <cstdlib>

namespace culvert::tls13 {

TrafficKeys traffic_keys(const CipherSuite& suite, ByteSpan traffic_secret) {
  return {hkdf_expand_label(suite, traffic_secret, "key", {}, suite.key_length),
          hkdf_expand_label(suite, traffic_secret, "iv", {}, 12)};
}

RecordProtection::RecordProtection(const CipherSuite& suite, ByteSpan traffic_secret, bool encrypt)
    : suite_(suite), encrypt_(encrypt), ctx_(EVP_CIPHER_CTX_new()) {
  if (!ctx_) std::abort();
  install(traffic_secret);
}

RecordProtection::~RecordProtection() {
  EVP_CIPHER_CTX_free(ctx_);
  OPENSSL_cleanse(secret_.data(), secret_.size());
}

void RecordProtection::install(ByteSpan secret) {
  OPENSSL_cleanse(secret_.data(), secret_.size());
  secret_.assign(secret.begin(), secret.end());
  TrafficKeys keys = traffic_keys(suite_, secret_);
  iv_ = keys.iv;
  sequence_ = 0;
  int ok = encrypt_ ? EVP_EncryptInit_ex(ctx_, suite_.aead(), nullptr, keys.key.data(), nullptr)
                    : EVP_DecryptInit_ex(ctx_, suite_.aead(), nullptr, keys.key.data(), nullptr);
  OPENSSL_cleanse(keys.key.data(), keys.key.size());
  if (ok != 1) std::abort();
}

void RecordProtection::update() { install(next_traffic_secret(suite_, secret_)); }

void RecordProtection::nonce(std::uint8_t out[12]) const {
  for (int i = 0; i < 12; ++i) out[i] = iv_[i];
  for (int i = 0; i < 8; ++i) out[11 - i] ^= static_cast<std::uint8_t>(sequence_ >> (8 * i));
}

void RecordProtection::seal(std::uint8_t type, ByteSpan plaintext, Bytes& out, std::size_t padding) {
  std::size_t start = out.size();
  out.resize(start + sealed_size(plaintext.size(), padding));
  seal_into(type, plaintext, out.data() + start, padding);
}

void RecordProtection::seal_into(std::uint8_t type, ByteSpan plaintext, std::uint8_t* header, std::size_t padding) {
  std::size_t inner = plaintext.size() + 1 + padding;
  header[0] = kApplicationData;
  header[1] = 0x03;
  header[2] = 0x03;
  header[3] = static_cast<std::uint8_t>((inner + kTagSize) >> 8);
  header[4] = static_cast<std::uint8_t>(inner + kTagSize);
  std::uint8_t* body = header + kRecordHeaderSize;
  // The content type and padding are encrypted from a second, small update; GCM and ChaCha20-Poly1305
  // both stream, so the result equals one update over the whole inner plaintext.
  body[plaintext.size()] = type;
  std::fill(body + plaintext.size() + 1, body + inner, 0);
  std::uint8_t iv[12];
  nonce(iv);
  int n = 0, tail = 0, last = 0;
  bool ok = EVP_EncryptInit_ex(ctx_, nullptr, nullptr, nullptr, iv) == 1 &&
            EVP_EncryptUpdate(ctx_, nullptr, &n, header, kRecordHeaderSize) == 1 &&
            EVP_EncryptUpdate(ctx_, body, &n, plaintext.data(), static_cast<int>(plaintext.size())) == 1 &&
            EVP_EncryptUpdate(ctx_, body + n, &tail, body + plaintext.size(),
                              static_cast<int>(inner - plaintext.size())) == 1 &&
            EVP_EncryptFinal_ex(ctx_, body + n + tail, &last) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_AEAD_GET_TAG, kTagSize, body + inner) == 1;
  if (!ok || static_cast<std::size_t>(n + tail + last) != inner) std::abort();
  ++sequence_;
}

Result<std::uint8_t> RecordProtection::open(ByteSpan header, std::span<std::uint8_t> body, std::size_t* length) {
  if (header.size() != kRecordHeaderSize || body.size() < kTagSize + 1 || body.size() > kMaxCiphertext)
    return fail(Errc::malformed);
  std::size_t sealed = body.size() - kTagSize;
  std::uint8_t iv[12];
  nonce(iv);
  int n = 0;
  bool ok = EVP_DecryptInit_ex(ctx_, nullptr, nullptr, nullptr, iv) == 1 &&
            EVP_DecryptUpdate(ctx_, nullptr, &n, header.data(), kRecordHeaderSize) == 1 &&
            EVP_DecryptUpdate(ctx_, body.data(), &n, body.data(), static_cast<int>(sealed)) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_AEAD_SET_TAG, kTagSize, body.data() + sealed) == 1 &&
            EVP_DecryptFinal_ex(ctx_, body.data() + n, &n) == 1;
  if (!ok) return fail(Errc::tls_failed);  // bad_record_mac
  ++sequence_;
  // Strip the zero padding; the last non-zero byte is the real content type.
  std::size_t end = sealed;
  while (end > 0 && body[end - 1] == 0) --end;
  if (end == 0) return fail(Errc::malformed);  // all padding: unexpected_message
  if (end - 1 > kMaxPlaintext) return fail(Errc::too_large);
  *length = end - 1;
  return body[end - 1];
}

}  // namespace culvert::tls13
