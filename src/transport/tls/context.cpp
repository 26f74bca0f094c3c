#include "transport/tls/context.h"

#include "transport/tls/acme_challenges.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

namespace culvert::tls {
namespace {

// nginx (ngx_http_ssl_alpn_select): the first of the server's protocols the client offers; no
// common protocol is a fatal no_application_protocol alert.
int select_alpn(SSL* ssl, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen,
                void* arg) {
  // An ACME CA validating a tls-alpn-01 challenge for this server's name (RFC 8737).
  for (unsigned i = 0; i < inlen; i += 1u + in[i]) {
    if (std::string_view(reinterpret_cast<const char*>(in + i + 1), std::min<unsigned>(in[i], inlen - i - 1)) !=
        kAcmeTlsAlpn)
      continue;
    const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (name && AcmeChallenges::instance().install(ssl, name)) {
      *out = in + i + 1;
      *outlen = in[i];
      return SSL_TLSEXT_ERR_OK;
    }
  }
  const auto* server = static_cast<const std::vector<unsigned char>*>(arg);
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, server->data(), static_cast<unsigned int>(server->size()), in, inlen) !=
      OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

// nginx answers every server name it is given with the default server: the name is acknowledged.
int accept_server_name(SSL*, int*, void*) { return SSL_TLSEXT_ERR_OK; }

// ngx_ssl_info_callback: OpenSSL buffers a handshake flight in 4 KiB by default; nginx raises it
// to 16 KiB once the buffering BIO is there, so a flight with a long chain leaves in one write.
int buffer_set_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

void info_callback(const SSL* ssl, int where, int) {
  if ((where & SSL_CB_ACCEPT_LOOP) != SSL_CB_ACCEPT_LOOP) return;
  if (SSL_get_ex_data(ssl, buffer_set_index()) != nullptr) return;  // already done for this connection
  BIO* rbio = SSL_get_rbio(ssl);
  BIO* wbio = SSL_get_wbio(ssl);
  if (rbio != wbio) {
    BIO_set_write_buffer_size(wbio, 16384);
    SSL_set_ex_data(const_cast<SSL*>(ssl), buffer_set_index(), const_cast<SSL*>(ssl));
  }
}

// ngx_ssl_session_id_context: SHA-1 over "HTTP" and the SHA-1 of each configured certificate.
bool set_session_id_context(SSL_CTX* ctx) {
  X509* leaf = SSL_CTX_get0_certificate(ctx);
  if (!leaf) return false;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(leaf, EVP_sha1(), digest, &len) != 1) return false;
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int out_len = 0;
  bool ok = EVP_DigestInit_ex(md, EVP_sha1(), nullptr) == 1 && EVP_DigestUpdate(md, "HTTP", 4) == 1 &&
            EVP_DigestUpdate(md, digest, len) == 1 && EVP_DigestFinal_ex(md, out, &out_len) == 1;
  EVP_MD_CTX_free(md);
  return ok && SSL_CTX_set_session_id_context(ctx, out, out_len) == 1;
}

}  // namespace

Result<ServerContext> make_server_context(const ServerTlsOptions& options) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return fail(Errc::tls_failed);
  SSL_CTX* c = ctx.get();
  // ngx_ssl_create
  // (nginx's other "bug" options are 0 in OpenSSL 3)
  SSL_CTX_set_options(c, SSL_OP_DONT_INSERT_EMPTY_FRAGMENTS | SSL_OP_SINGLE_DH_USE);
  SSL_CTX_clear_options(c, SSL_OP_NO_SSLv2 | SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1);
  SSL_CTX_set_options(c, SSL_OP_NO_SSLv2 | SSL_OP_NO_SSLv3);  // Debian: ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3
  SSL_CTX_clear_options(c, SSL_OP_NO_TLSv1_1 | SSL_OP_NO_TLSv1_2 | SSL_OP_NO_TLSv1_3);
  SSL_CTX_set_min_proto_version(c, 0);
  SSL_CTX_set_max_proto_version(c, TLS1_2_VERSION);
  SSL_CTX_set_min_proto_version(c, 0);
  SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION);
  SSL_CTX_set_options(c, SSL_OP_NO_COMPRESSION | SSL_OP_NO_ANTI_REPLAY | SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_NO_AUTO_CHAIN);
  SSL_CTX_set_read_ahead(c, 1);
  SSL_CTX_set_info_callback(c, info_callback);
  // the http ssl module: SNI, ALPN, ciphers (HIGH:!aNULL:!MD5, server order), certificate
  SSL_CTX_set_tlsext_servername_callback(c, accept_server_name);
  auto wire = std::make_unique<std::vector<unsigned char>>();
  auto add = [&](std::string_view p) {
    wire->push_back(static_cast<unsigned char>(p.size()));
    wire->insert(wire->end(), p.begin(), p.end());
  };
  for (const auto& p : options.alpn) {
    if (p.empty() || p.size() > 255) return fail(Errc::bad_config);
    add(p);
    if (p == "http/1.1") {
      add("http/1.0");
      add("http/0.9");
    }
  }
  SSL_CTX_set_alpn_select_cb(c, select_alpn, wire.get());
  if (SSL_CTX_set_cipher_list(c, "HIGH:!aNULL:!MD5") != 1) return fail(Errc::tls_failed);
  SSL_CTX_set_options(c, SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_use_certificate_chain_file(c, options.certificate_file.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(c, options.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(c) != 1)
    return fail(Errc::bad_config);
  // ngx_ssl_session_cache with "none": say sessions may be resumed, keep none; tickets with
  // OpenSSL's own keys; ssl_session_timeout 5m.
  SSL_CTX_set_timeout(c, 300);
  if (!set_session_id_context(c)) return fail(Errc::tls_failed);
  SSL_CTX_set_session_cache_mode(
      c, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_AUTO_CLEAR | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_cache_size(c, 1);
  return ServerContext{std::move(ctx), std::move(wire)};
}

SSL* new_server_ssl(const ServerContext& context) {
  SSL* ssl = SSL_new(context.ctx.get());
  if (!ssl) return nullptr;
  SSL_set_accept_state(ssl);
  SSL_set_options(ssl, SSL_OP_NO_RENEGOTIATION);
  return ssl;
}

}  // namespace culvert::tls
