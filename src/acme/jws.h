// The ACME account key and its JSON Web Signatures (RFC 7515/7517/7638 as RFC 8555 §6.2 uses
// them): an ECDSA P-256 key, its JWK and thumbprint, ES256-signed requests with a JWK or a key
// id, the key authorization of a challenge, and the CSR and tls-alpn-01 certificate (RFC 8737)
// made for an order. Pure code over OpenSSL's libcrypto: no I/O besides the key file.
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

#include "core/bytes.h"
#include "core/result.h"

namespace culvert::acme {

struct PkeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
using X509Ptr = std::unique_ptr<X509, X509Deleter>;

std::string base64url(ByteSpan data);
inline std::string base64url(std::string_view text) { return base64url(as_bytes(text)); }

PkeyPtr generate_p256();
std::string private_key_pem(EVP_PKEY* key);
// Reads a PEM private key, or creates one (mode 0600) when `path` does not exist yet.
Result<PkeyPtr> load_or_create_key(const std::string& path);

// {"crv":"P-256","kty":"EC","x":...,"y":...}: members in the order RFC 7638 hashes them.
std::string jwk(EVP_PKEY* key);
// base64url(SHA-256(jwk)).
std::string thumbprint(EVP_PKEY* key);

// The flattened JWS of `payload` for `url` ("" payload: POST-as-GET). With an empty `kid` the
// protected header carries the JWK (new accounts), else the account URL.
std::string sign(EVP_PKEY* key, const std::string& kid, const std::string& nonce, const std::string& url,
                 const std::string& payload);

// token "." thumbprint
std::string key_authorization(const std::string& token, EVP_PKEY* account);

// A certificate signing request for `name` (subject and dNSName), DER.
Bytes csr_der(EVP_PKEY* key, const std::string& name);

// RFC 8737 §3: a self-signed certificate for `name` whose critical acmeIdentifier extension holds
// SHA-256(key authorization). Signed with `key`.
X509Ptr tls_alpn_certificate(EVP_PKEY* key, const std::string& name, const std::string& key_authorization);

}  // namespace culvert::acme
