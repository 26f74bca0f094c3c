#include "transport/cdn/noise.h"

#include <openssl/crypto.h>

#include <cstring>
#include <string_view>

#include "tls13/client_hello.h"

namespace culvert::cdn {
namespace {

constexpr std::string_view kProtocolName = "Noise_NKhfs_25519+MLKEM768_ChaChaPoly_SHA256";

void nonce_bytes(std::uint64_t n, std::uint8_t out[12]) {
  std::memset(out, 0, 4);
  for (int i = 0; i < 8; ++i) out[4 + i] = static_cast<std::uint8_t>(n >> (8 * i));
}

// Noise's HKDF with two outputs.
std::pair<crypto::Digest, crypto::Digest> hkdf2(const crypto::Digest& chaining_key, ByteSpan ikm) {
  crypto::Digest temp = crypto::hmac_sha256(chaining_key, ikm);
  std::uint8_t one = 1;
  crypto::Digest out1 = crypto::hmac_sha256(temp, ByteSpan(&one, 1));
  Bytes input(out1.begin(), out1.end());
  input.push_back(2);
  crypto::Digest out2 = crypto::hmac_sha256(temp, input);
  OPENSSL_cleanse(temp.data(), temp.size());
  return {out1, out2};
}

}  // namespace

Aead::Aead(const Key& key) : key_(key), ctx_(EVP_CIPHER_CTX_new()) {}

Aead::~Aead() {
  OPENSSL_cleanse(key_.data(), key_.size());
  EVP_CIPHER_CTX_free(ctx_);
}

void Aead::seal(std::uint64_t nonce, ByteSpan ad, ByteSpan plaintext, Bytes& out) {
  std::uint8_t iv[12];
  nonce_bytes(nonce, iv);
  std::size_t start = out.size();
  out.resize(start + plaintext.size() + kAeadTag);
  int len = 0;
  EVP_EncryptInit_ex(ctx_, EVP_chacha20_poly1305(), nullptr, key_.data(), iv);
  if (!ad.empty()) EVP_EncryptUpdate(ctx_, nullptr, &len, ad.data(), static_cast<int>(ad.size()));
  if (!plaintext.empty())
    EVP_EncryptUpdate(ctx_, out.data() + start, &len, plaintext.data(), static_cast<int>(plaintext.size()));
  std::uint8_t scratch[16];
  EVP_EncryptFinal_ex(ctx_, scratch, &len);
  EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_AEAD_GET_TAG, kAeadTag, out.data() + start + plaintext.size());
}

bool Aead::open(std::uint64_t nonce, ByteSpan ad, ByteSpan ciphertext, Bytes& out) {
  if (ciphertext.size() < kAeadTag) return false;
  std::uint8_t iv[12];
  nonce_bytes(nonce, iv);
  std::size_t n = ciphertext.size() - kAeadTag;
  out.resize(n);
  int len = 0;
  std::uint8_t tag[kAeadTag];
  std::memcpy(tag, ciphertext.data() + n, kAeadTag);
  if (EVP_DecryptInit_ex(ctx_, EVP_chacha20_poly1305(), nullptr, key_.data(), iv) != 1) return false;
  if (!ad.empty() && EVP_DecryptUpdate(ctx_, nullptr, &len, ad.data(), static_cast<int>(ad.size())) != 1) return false;
  if (n > 0 && EVP_DecryptUpdate(ctx_, out.data(), &len, ciphertext.data(), static_cast<int>(n)) != 1) return false;
  EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_AEAD_SET_TAG, kAeadTag, tag);
  std::uint8_t scratch[16];  // a stream cipher's final step writes nothing
  if (EVP_DecryptFinal_ex(ctx_, scratch, &len) != 1) {
    OPENSSL_cleanse(out.data(), out.size());
    out.clear();
    return false;
  }
  return true;
}

SymmetricState::SymmetricState(ByteSpan prologue) {
  // The name is longer than the hash: h = HASH(name).
  h_ = crypto::sha256(as_bytes(kProtocolName));
  ck_ = h_;
  mix_hash(prologue);
}

void SymmetricState::mix_hash(ByteSpan data) {
  Bytes input(h_.begin(), h_.end());
  input.insert(input.end(), data.begin(), data.end());
  h_ = crypto::sha256(input);
}

void SymmetricState::mix_key(ByteSpan input_key_material) {
  auto [ck, k] = hkdf2(ck_, input_key_material);
  ck_ = ck;
  k_ = k;
  n_ = 0;
}

Bytes SymmetricState::encrypt_and_hash(ByteSpan plaintext) {
  Bytes out;
  if (!k_) {
    out.assign(plaintext.begin(), plaintext.end());
  } else {
    Aead aead(*k_);
    aead.seal(n_++, h_, plaintext, out);
  }
  mix_hash(out);
  return out;
}

Result<Bytes> SymmetricState::decrypt_and_hash(ByteSpan ciphertext) {
  Bytes out;
  if (!k_) {
    out.assign(ciphertext.begin(), ciphertext.end());
  } else {
    Aead aead(*k_);
    if (!aead.open(n_, h_, ciphertext, out)) return fail(Errc::auth_failed);
    ++n_;
  }
  mix_hash(ciphertext);
  return out;
}

SessionKeys SymmetricState::split() const {
  auto [k1, k2] = hkdf2(ck_, {});
  SessionKeys keys;
  keys.client_to_server = k1;
  keys.server_to_client = k2;
  keys.handshake_hash = h_;
  return keys;
}

// --- initiator ---

Initiator::Initiator(ByteSpan prologue, const Key& server_static) : state_(prologue), server_static_(server_static) {
  state_.mix_hash(server_static_);  // the pre-message "<- s"
}

Result<std::unique_ptr<Initiator>> Initiator::create(const Key& server_static, ByteSpan prologue) {
  std::unique_ptr<Initiator> self(new Initiator(prologue, server_static));
  auto e = tls13::KeyShare::generate(tls13::group::kX25519);
  if (!e) return fail(e.error());
  self->ephemeral_.emplace(std::move(*e));
  self->kem_ = std::make_unique<crypto::mlkem768::KeyPair>(crypto::mlkem768::generate_key_pair());
  return self;
}

Result<Bytes> Initiator::write_message1(const std::function<Bytes(const crypto::Digest&)>& payload) {
  Bytes out;
  const Bytes& e = ephemeral_->public_bytes();
  out.insert(out.end(), e.begin(), e.end());
  state_.mix_hash(e);                           // e
  auto es = ephemeral_->agree(server_static_);  // es
  if (!es) return fail(es.error());
  state_.mix_key(*es);
  OPENSSL_cleanse(es->data(), es->size());
  // e1 after es, so the KEM key (whose bytes are not uniform) travels encrypted.
  Bytes e1 = state_.encrypt_and_hash(kem_->encapsulation_key);
  out.insert(out.end(), e1.begin(), e1.end());
  Bytes sealed = state_.encrypt_and_hash(payload(state_.hash()));
  out.insert(out.end(), sealed.begin(), sealed.end());
  return out;
}

Result<Bytes> Initiator::read_message2(ByteSpan message, SessionKeys& keys) {
  if (message.size() < kMessage2Overhead) return fail(Errc::malformed);
  ByteSpan re = message.subspan(0, 32);
  state_.mix_hash(re);                                                                                   // e
  auto ct = state_.decrypt_and_hash(message.subspan(32, crypto::mlkem768::kCiphertextSize + kAeadTag));  // ekem1
  if (!ct) return fail(ct.error());
  auto kem_secret = crypto::mlkem768::decapsulate(
      kem_->decapsulation_key,
      std::span<const std::uint8_t, crypto::mlkem768::kCiphertextSize>(ct->data(), crypto::mlkem768::kCiphertextSize));
  state_.mix_key(kem_secret);
  OPENSSL_cleanse(kem_secret.data(), kem_secret.size());
  auto ee = ephemeral_->agree(re);  // ee
  if (!ee) return fail(Errc::auth_failed);
  state_.mix_key(*ee);
  OPENSSL_cleanse(ee->data(), ee->size());
  auto payload = state_.decrypt_and_hash(message.subspan(32 + crypto::mlkem768::kCiphertextSize + kAeadTag));
  if (!payload) return fail(payload.error());
  keys = state_.split();
  OPENSSL_cleanse(kem_->decapsulation_key.data(), kem_->decapsulation_key.size());
  return payload;
}

// --- responder ---

Responder::Responder(ByteSpan prologue, const Key& static_public) : state_(prologue) { state_.mix_hash(static_public); }

Result<std::unique_ptr<Responder>> Responder::create(const Key& static_private, ByteSpan prologue) {
  auto s = tls13::KeyShare::from_x25519_private(static_private);
  if (!s) return fail(s.error());
  Key pub{};
  std::memcpy(pub.data(), s->public_bytes().data(), pub.size());
  std::unique_ptr<Responder> self(new Responder(prologue, pub));
  self->static_.emplace(std::move(*s));
  return self;
}

Result<Responder::Message1> Responder::read_message1(ByteSpan message) {
  if (message.size() < kMessage1Overhead) return fail(Errc::auth_failed);
  Message1 m;
  std::memcpy(m.ephemeral.data(), message.data(), 32);
  client_ephemeral_ = m.ephemeral;
  state_.mix_hash(m.ephemeral);           // e
  auto es = static_->agree(m.ephemeral);  // es
  if (!es) return fail(Errc::auth_failed);
  state_.mix_key(*es);
  OPENSSL_cleanse(es->data(), es->size());
  auto kem_key = state_.decrypt_and_hash(message.subspan(32, crypto::mlkem768::kEncapsulationKeySize + kAeadTag));
  if (!kem_key) return fail(Errc::auth_failed);  // e1
  client_kem_key_ = std::move(*kem_key);
  m.proof_hash = state_.hash();
  auto payload = state_.decrypt_and_hash(message.subspan(32 + crypto::mlkem768::kEncapsulationKeySize + kAeadTag));
  if (!payload) return fail(Errc::auth_failed);
  m.payload = std::move(*payload);
  return m;
}

Result<Bytes> Responder::write_message2(ByteSpan payload, SessionKeys& keys) {
  auto e = tls13::KeyShare::generate(tls13::group::kX25519);
  if (!e) return fail(e.error());
  Bytes out(e->public_bytes().begin(), e->public_bytes().end());
  state_.mix_hash(e->public_bytes());  // e
  auto enc = crypto::mlkem768::encapsulate(std::span<const std::uint8_t, crypto::mlkem768::kEncapsulationKeySize>(
      client_kem_key_.data(), client_kem_key_.size()));
  if (!enc) return fail(Errc::auth_failed);             // the client's KEM key fails the modulus check
  Bytes ct = state_.encrypt_and_hash(enc->ciphertext);  // ekem1
  out.insert(out.end(), ct.begin(), ct.end());
  state_.mix_key(enc->shared_secret);
  OPENSSL_cleanse(enc->shared_secret.data(), enc->shared_secret.size());
  auto ee = e->agree(client_ephemeral_);  // ee
  if (!ee) return fail(Errc::auth_failed);
  state_.mix_key(*ee);
  OPENSSL_cleanse(ee->data(), ee->size());
  Bytes sealed = state_.encrypt_and_hash(payload);
  out.insert(out.end(), sealed.begin(), sealed.end());
  keys = state_.split();
  return out;
}

}  // namespace culvert::cdn
