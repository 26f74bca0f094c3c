#include "tls13/certificate_check.h"

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "crypto/crypto.h"

namespace culvert::tls13 {
namespace {

struct StackDeleter {
  void operator()(STACK_OF(X509) * s) const { sk_X509_pop_free(s, X509_free); }
};

X509Ptr parse_der(const Bytes& der) {
  const unsigned char* p = der.data();
  X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (cert && p != der.data() + der.size()) return nullptr;  // trailing bytes
  return cert;
}

bool is_ip_literal(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

}  // namespace

std::array<std::uint8_t, 32> spki_sha256(X509* cert) {
  unsigned char* der = nullptr;
  int n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
  std::array<std::uint8_t, 32> out{};
  if (n > 0) out = crypto::sha256(ByteSpan(der, static_cast<std::size_t>(n)));
  OPENSSL_free(der);
  return out;
}

Result<std::shared_ptr<CertificateVerifier>> CertificateVerifier::create(ServerIdentity identity) {
  std::shared_ptr<CertificateVerifier> v(new CertificateVerifier(std::move(identity)));
  if (!v->identity_.spki_pin) {
    v->store_ = X509_STORE_new();
    if (!v->store_ || X509_STORE_set_default_paths(v->store_) != 1) return fail(Errc::tls_failed);
  }
  return v;
}

CertificateVerifier::~CertificateVerifier() { X509_STORE_free(store_); }

Result<X509Ptr> CertificateVerifier::check_chain(const std::vector<Bytes>& chain) const {
  if (chain.empty()) return fail(Errc::tls_failed);
  X509Ptr leaf = parse_der(chain.front());
  if (!leaf) return fail(Errc::tls_failed);
  if (identity_.spki_pin) {
    auto got = spki_sha256(leaf.get());
    if (!crypto::equal_constant_time(got, *identity_.spki_pin)) return fail(Errc::pin_mismatch);
    return leaf;
  }
  std::unique_ptr<STACK_OF(X509), StackDeleter> untrusted(sk_X509_new_null());
  for (std::size_t i = 1; i < chain.size(); ++i) {
    X509Ptr c = parse_der(chain[i]);
    if (!c) return fail(Errc::tls_failed);
    sk_X509_push(untrusted.get(), c.release());
  }
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  bool ok = ctx && X509_STORE_CTX_init(ctx, store_, leaf.get(), untrusted.get()) == 1;
  if (ok) {
    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
    X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx);
    ok = is_ip_literal(identity_.host) ? X509_VERIFY_PARAM_set1_ip_asc(param, identity_.host.c_str()) == 1
                                       : X509_VERIFY_PARAM_set1_host(param, identity_.host.c_str(), 0) == 1;
    if (ok && X509_verify_cert(ctx) != 1) {
      last_failure_ = std::string(X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx))) + " (checked for " +
                      identity_.host + ")";
      X509_STORE_CTX_free(ctx);
      return fail(Errc::untrusted_certificate);
    }
  }
  X509_STORE_CTX_free(ctx);
  if (!ok) return fail(Errc::tls_failed);
  return leaf;
}

Bytes certificate_verify_content(ByteSpan transcript_hash) {
  constexpr std::string_view kContext = "TLS 1.3, server CertificateVerify";
  // Sized once and filled in place (appending trips a GCC 12 -Warray-bounds false positive).
  Bytes content(64 + kContext.size() + 1 + transcript_hash.size(), 0x20);
  std::copy(kContext.begin(), kContext.end(), content.begin() + 64);
  content[64 + kContext.size()] = 0;
  std::copy(transcript_hash.begin(), transcript_hash.end(), content.begin() + 64 + kContext.size() + 1);
  return content;
}

Result<Bytes> sign_certificate_verify(EVP_PKEY* key, ByteSpan transcript_hash) {
  Bytes content = certificate_verify_content(transcript_hash);
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  std::size_t length = 0;
  bool ok = md && EVP_DigestSignInit(md, nullptr, EVP_sha256(), nullptr, key) == 1 &&
            EVP_DigestSign(md, nullptr, &length, content.data(), content.size()) == 1;
  Bytes signature(length);
  ok = ok && EVP_DigestSign(md, signature.data(), &length, content.data(), content.size()) == 1;
  EVP_MD_CTX_free(md);
  if (!ok) return fail(Errc::tls_failed);
  signature.resize(length);
  Bytes body;
  Writer w(body);
  w.u16(0x0403);  // ecdsa_secp256r1_sha256
  w.u16(static_cast<std::uint16_t>(signature.size()));
  w.bytes(signature);
  return body;
}

Result<void> verify_server_signature(X509* leaf, std::uint16_t scheme, ByteSpan signature, ByteSpan transcript_hash) {
  EVP_PKEY* key = X509_get0_pubkey(leaf);
  if (!key) return fail(Errc::tls_failed);
  const EVP_MD* md = nullptr;
  bool pss = false;
  const char* curve = nullptr;
  switch (scheme) {
    case 0x0403:
      md = EVP_sha256();
      curve = "prime256v1";
      break;  // ecdsa_secp256r1_sha256
    case 0x0503:
      md = EVP_sha384();
      curve = "secp384r1";
      break;  // ecdsa_secp384r1_sha384
    case 0x0804:
      md = EVP_sha256();
      pss = true;
      break;  // rsa_pss_rsae_sha256
    case 0x0805:
      md = EVP_sha384();
      pss = true;
      break;  // rsa_pss_rsae_sha384
    case 0x0806:
      md = EVP_sha512();
      pss = true;
      break;  // rsa_pss_rsae_sha512
    default:
      return fail(Errc::tls_failed);  // not offered for TLS 1.3, or ML-DSA (not in libcrypto 3.0)
  }
  if (pss ? EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA : EVP_PKEY_get_base_id(key) != EVP_PKEY_EC)
    return fail(Errc::tls_failed);
  if (curve) {
    char name[64] = {};
    std::size_t len = 0;
    if (EVP_PKEY_get_group_name(key, name, sizeof name, &len) != 1 || std::string(name) != curve)
      return fail(Errc::tls_failed);
  }
  Bytes content = certificate_verify_content(transcript_hash);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX* pctx = nullptr;
  bool ok = ctx && EVP_DigestVerifyInit(ctx, &pctx, md, nullptr, key) == 1;
  if (ok && pss)
    ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1;
  ok = ok && EVP_DigestVerify(ctx, signature.data(), signature.size(), content.data(), content.size()) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) return fail(Errc::tls_failed);
  return {};
}

}  // namespace culvert::tls13
