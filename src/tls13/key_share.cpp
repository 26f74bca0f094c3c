#include "tls13/key_share.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>

#include "tls13/client_hello.h"

namespace culvert::tls13 {
namespace {

constexpr std::size_t kX25519Size = 32;

EvpPkeyPtr generate_ecdh(std::uint16_t group) {
  switch (group) {
    case group::kX25519:
    case group::kX25519MlKem768:
      return EvpPkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519"));
    case group::kSecp256r1:
      return EvpPkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    case group::kSecp384r1:
      return EvpPkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384"));
    default:
      return nullptr;
  }
}

Bytes encoded_public_key(EVP_PKEY* key) {
  unsigned char* data = nullptr;
  std::size_t n = EVP_PKEY_get1_encoded_public_key(key, &data);
  Bytes out(data, data + n);
  OPENSSL_free(data);
  return out;
}

// The peer's public key in the same group as `ours`.
EvpPkeyPtr peer_key(EVP_PKEY* ours, ByteSpan share) {
  EvpPkeyPtr peer(EVP_PKEY_new());
  if (!peer || EVP_PKEY_copy_parameters(peer.get(), ours) != 1) return nullptr;
  if (EVP_PKEY_set1_encoded_public_key(peer.get(), share.data(), share.size()) != 1) return nullptr;
  return peer;
}

Result<Bytes> derive(EVP_PKEY* ours, ByteSpan share) {
  EvpPkeyPtr peer = peer_key(ours, share);
  if (!peer) return fail(Errc::malformed);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_pkey(nullptr, ours, nullptr);
  std::size_t n = 0;
  bool ok = ctx && EVP_PKEY_derive_init(ctx) == 1 && EVP_PKEY_derive_set_peer(ctx, peer.get()) == 1 &&
            EVP_PKEY_derive(ctx, nullptr, &n) == 1;
  Bytes secret(n);
  // X25519 refuses an all-zero result (RFC 8446 §7.4.2); EC refuses points off the curve.
  ok = ok && EVP_PKEY_derive(ctx, secret.data(), &n) == 1;
  EVP_PKEY_CTX_free(ctx);
  if (!ok) return fail(Errc::malformed);
  secret.resize(n);
  return secret;
}

}  // namespace

Result<KeyShare> KeyShare::generate(std::uint16_t group) {
  KeyShare share;
  share.group_ = group;
  share.ecdh_ = generate_ecdh(group);
  if (!share.ecdh_) return fail(Errc::unsupported);
  Bytes ecdh_public = encoded_public_key(share.ecdh_.get());
  if (group == group::kX25519MlKem768) {
    share.mlkem_ = std::make_unique<crypto::mlkem768::KeyPair>(crypto::mlkem768::generate_key_pair());
    share.public_.assign(share.mlkem_->encapsulation_key.begin(), share.mlkem_->encapsulation_key.end());
  }
  share.public_.insert(share.public_.end(), ecdh_public.begin(), ecdh_public.end());
  return share;
}

Result<KeyShare> KeyShare::from_x25519_private(const std::array<std::uint8_t, 32>& private_key) {
  KeyShare share;
  share.group_ = group::kX25519;
  share.ecdh_.reset(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, private_key.data(), private_key.size()));
  if (!share.ecdh_) return fail(Errc::bad_config);
  share.public_ = encoded_public_key(share.ecdh_.get());
  return share;
}

KeyShare::~KeyShare() {
  if (mlkem_) OPENSSL_cleanse(mlkem_->decapsulation_key.data(), mlkem_->decapsulation_key.size());
}

Result<Bytes> KeyShare::agree(ByteSpan server_share) const {
  if (group_ != group::kX25519MlKem768) return derive(ecdh_.get(), server_share);
  using namespace crypto::mlkem768;
  if (server_share.size() != kCiphertextSize + kX25519Size) return fail(Errc::malformed);
  auto ecdh = derive(ecdh_.get(), server_share.subspan(kCiphertextSize));
  if (!ecdh) return fail(ecdh.error());
  SharedSecret pq = decapsulate(mlkem_->decapsulation_key,
                                std::span<const std::uint8_t, kCiphertextSize>(server_share.data(), kCiphertextSize));
  Bytes secret(pq.begin(), pq.end());
  secret.insert(secret.end(), ecdh->begin(), ecdh->end());
  OPENSSL_cleanse(pq.data(), pq.size());
  return secret;
}

Result<HybridEncapsulation> encapsulate_x25519_mlkem768(ByteSpan client_share) {
  using namespace crypto::mlkem768;
  if (client_share.size() != kEncapsulationKeySize + kX25519Size) return fail(Errc::malformed);
  auto enc =
      encapsulate(std::span<const std::uint8_t, kEncapsulationKeySize>(client_share.data(), kEncapsulationKeySize));
  if (!enc) return fail(Errc::malformed);
  auto server = KeyShare::generate(group::kX25519);
  if (!server) return fail(server.error());
  auto ecdh = server->agree(client_share.subspan(kEncapsulationKeySize));
  if (!ecdh) return fail(ecdh.error());
  HybridEncapsulation out;
  out.server_share.assign(enc->ciphertext.begin(), enc->ciphertext.end());
  out.server_share.insert(out.server_share.end(), server->public_bytes().begin(), server->public_bytes().end());
  out.shared_secret.assign(enc->shared_secret.begin(), enc->shared_secret.end());
  out.shared_secret.insert(out.shared_secret.end(), ecdh->begin(), ecdh->end());
  return out;
}

}  // namespace culvert::tls13
