#include "transport/tls/client_hello_profile.h"

#include <openssl/ct.h>

namespace culvert::tls {
namespace {

// Chrome's ALPN offer (wire format: length-prefixed protocol names).
constexpr unsigned char kAlpn[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

int accept_any_sct(const CT_POLICY_EVAL_CTX*, const STACK_OF(SCT) *, void*) { return 1; }

}  // namespace

bool apply_client_hello_profile(SSL_CTX* ctx) {
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1) return false;
  if (SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1) return false;
  // Chrome's TLS 1.3 suite order.
  if (SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256") != 1)
    return false;
  // Chrome offers X25519MLKEM768 first; OpenSSL 3.0 has no ML-KEM, so the classical groups follow.
  if (SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384") != 1) return false;
  if (SSL_CTX_set1_sigalgs_list(ctx,
                                "ECDSA+SHA256:rsa_pss_rsae_sha256:RSA+SHA256:ECDSA+SHA384:rsa_pss_rsae_sha384:"
                                "RSA+SHA384:rsa_pss_rsae_sha512:RSA+SHA512") != 1)
    return false;
  if (SSL_CTX_set_alpn_protos(ctx, kAlpn, sizeof kAlpn) != 0) return false;
  // status_request and signed_certificate_timestamp, as Chrome sends them.
  SSL_CTX_set_tlsext_status_type(ctx, TLSEXT_STATUSTYPE_ocsp);
  SSL_CTX_set_ct_validation_callback(ctx, accept_any_sct, nullptr);
  // Chrome sends no encrypt_then_mac and resumes rarely on first contact; we never resume.
  SSL_CTX_set_options(ctx, SSL_OP_NO_ENCRYPT_THEN_MAC);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  return true;
}

}  // namespace culvert::tls
