// The client's check of the server: the certificate chain (CA store + hostname through OpenSSL's
// X509 APIs) or, for a share link, the pinned SHA-256 of the leaf's SubjectPublicKeyInfo; and the
// CertificateVerify signature over the transcript (RFC 8446 §4.4.3) with the schemes Chromium
// offers that libcrypto can check.
#pragma once

#include <openssl/x509.h>

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/result.h"

namespace culvert::tls13 {

struct X509Deleter {
  void operator()(X509* cert) const { X509_free(cert); }
};
using X509Ptr = std::unique_ptr<X509, X509Deleter>;

struct ServerIdentity {
  std::string host;                                      // name or IP literal checked against the chain
  std::optional<std::array<std::uint8_t, 32>> spki_pin;  // when set, replaces the CA check
};

// A CA store loaded once (the system's, or SSL_CERT_FILE / SSL_CERT_DIR when set) and shared by
// every connection to one server.
class CertificateVerifier {
 public:
  static Result<std::shared_ptr<CertificateVerifier>> create(ServerIdentity identity);
  ~CertificateVerifier();

  // Checks the chain (leaf first). Errc::pin_mismatch when a pin is set and does not match,
  // Errc::untrusted_certificate when the CA chain or the name does not check out (why: in
  // last_failure()), Errc::tls_failed for anything else. Returns the parsed leaf.
  Result<X509Ptr> check_chain(const std::vector<Bytes>& chain) const;
  // Why the last chain check failed, for the user: "certificate has expired (checked for NAME)".
  const std::string& last_failure() const { return last_failure_; }

 private:
  explicit CertificateVerifier(ServerIdentity identity) : identity_(std::move(identity)) {}
  ServerIdentity identity_;
  X509_STORE* store_ = nullptr;
  mutable std::string last_failure_;
};

std::array<std::uint8_t, 32> spki_sha256(X509* cert);

// What a server's CertificateVerify signs (RFC 8446 §4.4.3): 64 spaces, the context string, a zero
// byte and the transcript hash.
Bytes certificate_verify_content(ByteSpan transcript_hash);

// What a server built on this code proves itself with: its chain and the chain's P-256 key.
struct ServerCredentials {
  std::vector<Bytes> chain;  // DER, leaf first
  std::shared_ptr<EVP_PKEY> key;
};

// A server's CertificateVerify body (scheme ecdsa_secp256r1_sha256 and the signature) with a P-256
// key; Errc::tls_failed if libcrypto cannot sign with it.
Result<Bytes> sign_certificate_verify(EVP_PKEY* key, ByteSpan transcript_hash);

// Verifies a server CertificateVerify. Errc::tls_failed for a bad signature or a scheme that was
// not offered or does not fit the key.
Result<void> verify_server_signature(X509* leaf, std::uint16_t scheme, ByteSpan signature, ByteSpan transcript_hash);

}  // namespace culvert::tls13
