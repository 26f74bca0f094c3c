#include "transport/tls/context.h"

#include <arpa/inet.h>
#include <openssl/x509v3.h>

#include "crypto/crypto.h"
#include "transport/tls/client_hello_profile.h"

namespace culvert::tls {
namespace {

int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen,
                void* arg) {
  const auto* server = static_cast<const std::vector<unsigned char>*>(arg);
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, server->data(), static_cast<unsigned int>(server->size()), in, inlen) !=
      OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;  // no common protocol: continue without ALPN, as nginx does
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

// Checked by OpenSSL during the handshake, so a wrong server never sees a byte from us.
int verify_pin(int preverified, X509_STORE_CTX* store) {
  SSL* ssl = static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  const auto* pin = static_cast<const std::array<std::uint8_t, 32>*>(SSL_get_app_data(ssl));
  if (!pin) return preverified;
  // Only the leaf certificate matters for a pin; the rest of the chain is not trusted or checked.
  if (X509_STORE_CTX_get_error_depth(store) != 0) return 1;
  X509* leaf = X509_STORE_CTX_get_current_cert(store);
  auto hash = spki_sha256(leaf);
  return crypto::equal_constant_time(hash, *pin) ? 1 : 0;
}

}  // namespace

std::array<std::uint8_t, 32> spki_sha256(X509* cert) {
  unsigned char* der = nullptr;
  int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
  std::array<std::uint8_t, 32> out{};
  if (len > 0) out = crypto::sha256({der, static_cast<std::size_t>(len)});
  OPENSSL_free(der);
  return out;
}

Result<ServerContext> make_server_context(const ServerTlsOptions& options) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return fail(Errc::tls_failed);
  // Like a default nginx: TLS 1.2 and 1.3, so that probes and browsers see an ordinary server.
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_options(ctx.get(), SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION);
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), options.certificate_file.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx.get(), options.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx.get()) != 1)
    return fail(Errc::bad_config);
  auto wire = std::make_unique<std::vector<unsigned char>>();
  for (const auto& p : options.alpn) {
    if (p.empty() || p.size() > 255) return fail(Errc::bad_config);
    wire->push_back(static_cast<unsigned char>(p.size()));
    wire->insert(wire->end(), p.begin(), p.end());
  }
  SSL_CTX_set_alpn_select_cb(ctx.get(), select_alpn, wire.get());
  return ServerContext{std::move(ctx), std::move(wire)};
}

Result<SslCtxPtr> make_client_context(const ClientTlsOptions& options) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx || !apply_client_hello_profile(ctx.get())) return fail(Errc::tls_failed);
  if (options.spki_pin) {
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, verify_pin);
  } else {
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    if (SSL_CTX_set_default_verify_paths(ctx.get()) != 1) return fail(Errc::tls_failed);
  }
  return ctx;
}

SSL* make_client_ssl(SSL_CTX* ctx, const ClientTlsOptions& options) {
  SSL* ssl = SSL_new(ctx);
  if (!ssl) return nullptr;
  SSL_set_connect_state(ssl);
  if (!options.sni.empty()) SSL_set_tlsext_host_name(ssl, options.sni.c_str());
  if (options.spki_pin) {
    SSL_set_app_data(ssl, static_cast<void*>(const_cast<std::array<std::uint8_t, 32>*>(&*options.spki_pin)));
  } else {
    unsigned char buf[16];
    const std::string& host = options.verify_host;
    bool is_ip = inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
    if (is_ip) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str());
    } else {
      SSL_set1_host(ssl, host.c_str());
    }
  }
  return ssl;
}

}  // namespace culvert::tls
