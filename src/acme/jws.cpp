#include "acme/jws.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <fstream>

#include "core/file.h"
#include "crypto/crypto.h"

namespace culvert::acme {
namespace {

Bytes ec_coordinate(EVP_PKEY* key, const char* name) {
  BIGNUM* bn = nullptr;
  EVP_PKEY_get_bn_param(key, name, &bn);
  Bytes out(32);
  if (bn) BN_bn2binpad(bn, out.data(), 32);
  BN_free(bn);
  return out;
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

std::string base64url(ByteSpan data) { return crypto::base64url_encode(data); }

PkeyPtr generate_p256() { return PkeyPtr(EVP_EC_gen("P-256")); }

std::string private_key_pem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return out;
}

Result<PkeyPtr> load_or_create_key(const std::string& path) {
  if (auto text = read_file(path)) {
    BIO* bio = BIO_new_mem_buf(text->data(), static_cast<int>(text->size()));
    PkeyPtr key(PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr));
    BIO_free(bio);
    if (!key) return fail(Errc::bad_config);
    return key;
  }
  auto key = generate_p256();
  if (!key || !write_private_file(path, private_key_pem(key.get()))) return fail(Errc::bad_config);
  return key;
}

std::string jwk(EVP_PKEY* key) {
  return "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"" + base64url(ec_coordinate(key, OSSL_PKEY_PARAM_EC_PUB_X)) +
         "\",\"y\":\"" + base64url(ec_coordinate(key, OSSL_PKEY_PARAM_EC_PUB_Y)) + "\"}";
}

std::string thumbprint(EVP_PKEY* key) {
  auto digest = crypto::sha256(as_bytes(jwk(key)));
  return base64url(ByteSpan(digest.data(), digest.size()));
}

std::string sign(EVP_PKEY* key, const std::string& kid, const std::string& nonce, const std::string& url,
                 const std::string& payload) {
  std::string header = "{\"alg\":\"ES256\",";
  header += kid.empty() ? "\"jwk\":" + jwk(key) : "\"kid\":\"" + json_escape(kid) + "\"";
  header += ",\"nonce\":\"" + json_escape(nonce) + "\",\"url\":\"" + json_escape(url) + "\"}";
  std::string protected_b64 = base64url(header);
  std::string payload_b64 = payload.empty() ? "" : base64url(payload);
  std::string input = protected_b64 + "." + payload_b64;
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  std::size_t der_len = 0;
  Bytes der(128);
  EVP_DigestSignInit(md, nullptr, EVP_sha256(), nullptr, key);
  der_len = der.size();
  EVP_DigestSign(md, der.data(), &der_len, reinterpret_cast<const unsigned char*>(input.data()), input.size());
  EVP_MD_CTX_free(md);
  // JWS wants r || s, 32 bytes each, not DER.
  const unsigned char* p = der.data();
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_len));
  Bytes raw(64);
  if (sig) {
    BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw.data(), 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw.data() + 32, 32);
    ECDSA_SIG_free(sig);
  }
  return "{\"protected\":\"" + protected_b64 + "\",\"payload\":\"" + payload_b64 + "\",\"signature\":\"" +
         base64url(raw) + "\"}";
}

std::string key_authorization(const std::string& token, EVP_PKEY* account) { return token + "." + thumbprint(account); }

Bytes csr_der(EVP_PKEY* key, const std::string& name) {
  X509_REQ* req = X509_REQ_new();
  X509_REQ_set_version(req, 0);
  X509_NAME* subject = X509_REQ_get_subject_name(req);
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(name.c_str()), -1, -1,
                             0);
  X509_REQ_set_pubkey(req, key);
  STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
  std::string san = "DNS:" + name;
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, san.c_str());
  sk_X509_EXTENSION_push(exts, ext);
  X509_REQ_add_extensions(req, exts);
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  X509_REQ_sign(req, key, EVP_sha256());
  int n = i2d_X509_REQ(req, nullptr);
  Bytes out(static_cast<std::size_t>(std::max(n, 0)));
  unsigned char* p = out.data();
  i2d_X509_REQ(req, &p);
  X509_REQ_free(req);
  return out;
}

X509Ptr tls_alpn_certificate(EVP_PKEY* key, const std::string& name, const std::string& key_authorization) {
  X509Ptr cert(X509_new());
  X509* x = cert.get();
  X509_set_version(x, 2);
  auto serial = crypto::random_bytes(16);
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial.data(), static_cast<int>(serial.size()), nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 7 * 24 * 3600);
  X509_NAME* subject = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(name.c_str()), -1, -1,
                             0);
  X509_set_issuer_name(x, subject);
  X509_set_pubkey(x, key);
  std::string san = "DNS:" + name;
  X509_EXTENSION* alt = X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, san.c_str());
  X509_add_ext(x, alt, -1);
  X509_EXTENSION_free(alt);
  // id-pe-acmeIdentifier, critical, an OCTET STRING of SHA-256(key authorization).
  auto digest = crypto::sha256(as_bytes(key_authorization));
  Bytes value{0x04, 0x20};
  value.insert(value.end(), digest.begin(), digest.end());
  ASN1_OBJECT* oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
  ASN1_OCTET_STRING* data = ASN1_OCTET_STRING_new();
  ASN1_OCTET_STRING_set(data, value.data(), static_cast<int>(value.size()));
  X509_EXTENSION* acme = X509_EXTENSION_create_by_OBJ(nullptr, oid, 1, data);
  X509_add_ext(x, acme, -1);
  X509_EXTENSION_free(acme);
  ASN1_OCTET_STRING_free(data);
  ASN1_OBJECT_free(oid);
  X509_sign(x, key, EVP_sha256());
  return cert;
}

}  // namespace culvert::acme
