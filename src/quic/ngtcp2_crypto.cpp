#include "quic/ngtcp2_crypto.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <memory>

#include "crypto/crypto.h"

namespace culvert::quic {
namespace {

constexpr std::uint16_t kChaCha20Poly1305 = 0x1303;

// The handles ngtcp2 passes back to the callbacks.
const tls13::CipherSuite& suite_of(const ngtcp2_crypto_aead* aead) {
  return *static_cast<const tls13::CipherSuite*>(aead->native_handle);
}
const Aead& aead_of(const ngtcp2_crypto_aead_ctx* ctx) { return *static_cast<const Aead*>(ctx->native_handle); }
const HeaderProtection& hp_of(const ngtcp2_crypto_cipher_ctx* ctx) {
  return *static_cast<const HeaderProtection*>(ctx->native_handle);
}

// Owns the contexts made for one key until ngtcp2 takes them.
struct KeyContexts {
  std::unique_ptr<Aead> aead;
  std::unique_ptr<HeaderProtection> hp;
  Bytes iv;

  ngtcp2_crypto_aead_ctx aead_ctx() const { return {aead.get()}; }
  ngtcp2_crypto_cipher_ctx hp_ctx() const { return {hp.get()}; }
  // After ngtcp2 accepted them: its delete callbacks free them from now on.
  void release() {
    (void)aead.release();
    (void)hp.release();
  }
};

Result<KeyContexts> contexts_for(const PacketKeys& keys, bool encrypting) {
  auto aead = Aead::create(*keys.suite, keys.key, encrypting);
  if (!aead) return fail(aead.error());
  auto hp = HeaderProtection::create(*keys.suite, keys.hp);
  if (!hp) return fail(hp.error());
  return KeyContexts{std::make_unique<Aead>(std::move(*aead)), std::make_unique<HeaderProtection>(std::move(*hp)),
                     keys.iv};
}

int encrypt(std::uint8_t* dest, const ngtcp2_crypto_aead*, const ngtcp2_crypto_aead_ctx* ctx,
            const std::uint8_t* plaintext, std::size_t plaintext_length, const std::uint8_t* nonce,
            std::size_t nonce_length, const std::uint8_t* aad, std::size_t aad_length) {
  auto sealed = aead_of(ctx).seal(ByteSpan(nonce, nonce_length), ByteSpan(aad, aad_length),
                                  ByteSpan(plaintext, plaintext_length), dest);
  return sealed ? 0 : NGTCP2_ERR_CALLBACK_FAILURE;
}

int decrypt(std::uint8_t* dest, const ngtcp2_crypto_aead*, const ngtcp2_crypto_aead_ctx* ctx,
            const std::uint8_t* ciphertext, std::size_t ciphertext_length, const std::uint8_t* nonce,
            std::size_t nonce_length, const std::uint8_t* aad, std::size_t aad_length) {
  auto opened = aead_of(ctx).open(ByteSpan(nonce, nonce_length), ByteSpan(aad, aad_length),
                                  ByteSpan(ciphertext, ciphertext_length), dest);
  return opened ? 0 : NGTCP2_ERR_DECRYPT;
}

int hp_mask(std::uint8_t* dest, const ngtcp2_crypto_cipher*, const ngtcp2_crypto_cipher_ctx* ctx,
            const std::uint8_t* sample) {
  auto mask = hp_of(ctx).mask(ByteSpan(sample, NGTCP2_HP_SAMPLELEN));
  if (!mask) return NGTCP2_ERR_CALLBACK_FAILURE;
  std::copy(mask->begin(), mask->end(), dest);
  return 0;
}

int update_key(ngtcp2_conn* conn, std::uint8_t* rx_secret, std::uint8_t* tx_secret, ngtcp2_crypto_aead_ctx* rx_aead_ctx,
               std::uint8_t* rx_iv, ngtcp2_crypto_aead_ctx* tx_aead_ctx, std::uint8_t* tx_iv,
               const std::uint8_t* current_rx_secret, const std::uint8_t* current_tx_secret, std::size_t secret_length,
               void*) {
  const ngtcp2_crypto_ctx* ctx = ngtcp2_conn_get_crypto_ctx(conn);
  if (!ctx || !ctx->aead.native_handle) return NGTCP2_ERR_CALLBACK_FAILURE;
  const auto& suite = suite_of(&ctx->aead);
  std::uint32_t version = ngtcp2_conn_get_negotiated_version(conn);
  Bytes next_rx = next_secret(suite, ByteSpan(current_rx_secret, secret_length), version);
  Bytes next_tx = next_secret(suite, ByteSpan(current_tx_secret, secret_length), version);
  auto rx = packet_keys(suite, next_rx, version);
  auto tx = packet_keys(suite, next_tx, version);
  if (!rx || !tx || next_rx.size() != secret_length) return NGTCP2_ERR_CALLBACK_FAILURE;
  auto rx_aead = Aead::create(suite, rx->key, false);
  auto tx_aead = Aead::create(suite, tx->key, true);
  if (!rx_aead || !tx_aead) return NGTCP2_ERR_CALLBACK_FAILURE;
  std::copy(next_rx.begin(), next_rx.end(), rx_secret);
  std::copy(next_tx.begin(), next_tx.end(), tx_secret);
  std::copy(rx->iv.begin(), rx->iv.end(), rx_iv);
  std::copy(tx->iv.begin(), tx->iv.end(), tx_iv);
  rx_aead_ctx->native_handle = new Aead(std::move(*rx_aead));
  tx_aead_ctx->native_handle = new Aead(std::move(*tx_aead));
  OPENSSL_cleanse(next_rx.data(), next_rx.size());
  OPENSSL_cleanse(next_tx.data(), next_tx.size());
  return 0;
}

void delete_aead_ctx(ngtcp2_conn*, ngtcp2_crypto_aead_ctx* ctx, void*) {
  delete static_cast<Aead*>(ctx->native_handle);
  ctx->native_handle = nullptr;
}

void delete_cipher_ctx(ngtcp2_conn*, ngtcp2_crypto_cipher_ctx* ctx, void*) {
  delete static_cast<HeaderProtection*>(ctx->native_handle);
  ctx->native_handle = nullptr;
}

void random(std::uint8_t* dest, std::size_t length, const ngtcp2_rand_ctx*) {
  crypto::random_bytes(std::span<std::uint8_t>(dest, length));
}

int path_challenge_data(ngtcp2_conn*, std::uint8_t* data, void*) {
  crypto::random_bytes(std::span<std::uint8_t>(data, NGTCP2_PATH_CHALLENGE_DATALEN));
  return 0;
}

// Installs one direction pair through `install(rx, tx)`, freeing the contexts if ngtcp2 refuses.
template <class Install>
int install_pair(const tls13::CipherSuite& suite, std::uint32_t version, ByteSpan rx_secret, ByteSpan tx_secret,
                 Install install) {
  auto rx_keys = packet_keys(suite, rx_secret, version);
  auto tx_keys = packet_keys(suite, tx_secret, version);
  if (!rx_keys || !tx_keys) return NGTCP2_ERR_CALLBACK_FAILURE;
  auto rx = contexts_for(*rx_keys, false);
  auto tx = contexts_for(*tx_keys, true);
  if (!rx || !tx) return NGTCP2_ERR_CALLBACK_FAILURE;
  int rv = install(*rx, *tx);  // releases what ngtcp2 took even when a later step fails
  if (rv != 0) return rv;
  rx->release();
  tx->release();
  return 0;
}

}  // namespace

void set_crypto_callbacks(ngtcp2_callbacks& callbacks) {
  callbacks.encrypt = encrypt;
  callbacks.decrypt = decrypt;
  callbacks.hp_mask = hp_mask;
  callbacks.update_key = update_key;
  callbacks.delete_crypto_aead_ctx = delete_aead_ctx;
  callbacks.delete_crypto_cipher_ctx = delete_cipher_ctx;
  callbacks.rand = random;
  callbacks.get_path_challenge_data = path_challenge_data;
}

ngtcp2_crypto_ctx crypto_context(const tls13::CipherSuite& suite) {
  ngtcp2_crypto_ctx ctx{};
  void* handle = const_cast<tls13::CipherSuite*>(&suite);
  ctx.aead.native_handle = handle;
  ctx.aead.max_overhead = kTagSize;
  ctx.md.native_handle = handle;
  ctx.hp.native_handle = handle;
  // RFC 9001 §6.6 and §B: the AES-GCM suites' confidentiality and integrity limits, and ChaCha20's.
  bool chacha = suite.id == kChaCha20Poly1305;
  ctx.max_encryption = chacha ? (std::uint64_t{1} << 62) : (std::uint64_t{1} << 23);
  ctx.max_decryption_failure = chacha ? (std::uint64_t{1} << 36) : (std::uint64_t{1} << 52);
  return ctx;
}

int install_initial_keys(ngtcp2_conn* conn, ByteSpan client_destination_id, std::uint32_t version, bool client) {
  auto secrets = initial_secrets(client_destination_id, version);
  if (!secrets) return NGTCP2_ERR_CALLBACK_FAILURE;
  ngtcp2_crypto_ctx ctx = crypto_context(initial_suite());
  ngtcp2_conn_set_initial_crypto_ctx(conn, &ctx);
  ByteSpan rx = client ? secrets->server : secrets->client;
  ByteSpan tx = client ? secrets->client : secrets->server;
  int rv = install_pair(initial_suite(), version, rx, tx, [&](KeyContexts& r, KeyContexts& t) {
    auto r_aead = r.aead_ctx(), t_aead = t.aead_ctx();
    auto r_hp = r.hp_ctx(), t_hp = t.hp_ctx();
    return ngtcp2_conn_install_initial_key(conn, &r_aead, r.iv.data(), &r_hp, &t_aead, t.iv.data(), &t_hp, r.iv.size());
  });
  OPENSSL_cleanse(secrets->client.data(), secrets->client.size());
  OPENSSL_cleanse(secrets->server.data(), secrets->server.size());
  return rv;
}

int install_handshake_keys(ngtcp2_conn* conn, const tls13::CipherSuite& suite, std::uint32_t version, ByteSpan rx,
                           ByteSpan tx) {
  // The Handshake and 1-RTT levels share this context; ngtcp2 reads the tag size from it when it
  // opens a Handshake packet, so it must be set before the first one arrives.
  ngtcp2_crypto_ctx ctx = crypto_context(suite);
  ngtcp2_conn_set_crypto_ctx(conn, &ctx);
  return install_pair(suite, version, rx, tx, [&](KeyContexts& r, KeyContexts& t) {
    auto r_aead = r.aead_ctx(), t_aead = t.aead_ctx();
    auto r_hp = r.hp_ctx(), t_hp = t.hp_ctx();
    int rv = ngtcp2_conn_install_rx_handshake_key(conn, &r_aead, r.iv.data(), r.iv.size(), &r_hp);
    if (rv != 0) return rv;
    r.release();
    return ngtcp2_conn_install_tx_handshake_key(conn, &t_aead, t.iv.data(), t.iv.size(), &t_hp);
  });
}

int install_application_keys(ngtcp2_conn* conn, const tls13::CipherSuite& suite, std::uint32_t version, ByteSpan rx,
                             ByteSpan tx) {
  ngtcp2_crypto_ctx ctx = crypto_context(suite);
  ngtcp2_conn_set_crypto_ctx(conn, &ctx);
  return install_pair(suite, version, rx, tx, [&](KeyContexts& r, KeyContexts& t) {
    auto r_aead = r.aead_ctx(), t_aead = t.aead_ctx();
    auto r_hp = r.hp_ctx(), t_hp = t.hp_ctx();
    int rv = ngtcp2_conn_install_rx_key(conn, rx.data(), rx.size(), &r_aead, r.iv.data(), r.iv.size(), &r_hp);
    if (rv != 0) return rv;
    r.release();
    return ngtcp2_conn_install_tx_key(conn, tx.data(), tx.size(), &t_aead, t.iv.data(), t.iv.size(), &t_hp);
  });
}

}  // namespace culvert::quic
