#include "transport/tls/certificate.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <memory>

#include "crypto/crypto.h"
#include "tls13/certificate_check.h"
#include "transport/tls/context.h"

namespace culvert::tls {
namespace {

std::string bio_to_string(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(len));
}

}  // namespace

Result<GeneratedCertificate> generate_self_signed(const std::string& name, int valid_days) {
  EVP_PKEY* key_raw = EVP_EC_gen("P-256");
  if (!key_raw) return fail(Errc::tls_failed);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(key_raw, EVP_PKEY_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
  X509_set_version(cert.get(), 2);
  auto serial = crypto::random_bytes(16);
  serial[0] &= 0x7f;
  std::unique_ptr<BIGNUM, decltype(&BN_free)> bn(BN_bin2bn(serial.data(), 16, nullptr), BN_free);
  BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert.get()));
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600L * 24);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600L * 24 * valid_days);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* subject = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(name.c_str()), -1, -1,
                             0);
  X509_set_issuer_name(cert.get(), subject);

  unsigned char buf[16];
  bool is_ip = inet_pton(AF_INET, name.c_str(), buf) == 1 || inet_pton(AF_INET6, name.c_str(), buf) == 1;
  std::string san = (is_ip ? "IP:" : "DNS:") + name;
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, cert.get(), cert.get(), nullptr, nullptr, 0);
  for (auto [nid, value] :
       {std::pair{NID_subject_alt_name, san.c_str()}, std::pair{NID_basic_constraints, "critical,CA:FALSE"},
        std::pair{NID_key_usage, "critical,digitalSignature"}, std::pair{NID_ext_key_usage, "serverAuth"}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value);
    if (!ext) return fail(Errc::tls_failed);
    X509_add_ext(cert.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) return fail(Errc::tls_failed);

  GeneratedCertificate out;
  std::unique_ptr<BIO, decltype(&BIO_free)> cert_bio(BIO_new(BIO_s_mem()), BIO_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> key_bio(BIO_new(BIO_s_mem()), BIO_free);
  PEM_write_bio_X509(cert_bio.get(), cert.get());
  PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  out.certificate_pem = bio_to_string(cert_bio.get());
  out.key_pem = bio_to_string(key_bio.get());
  out.spki_sha256 = tls13::spki_sha256(cert.get());
  return out;
}

Result<std::array<std::uint8_t, 32>> spki_sha256_of_file(const std::string& pem_path) {
  std::FILE* f = std::fopen(pem_path.c_str(), "r");
  if (!f) return fail(Errc::bad_config);
  X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  if (!cert) return fail(Errc::bad_config);
  auto hash = tls13::spki_sha256(cert);
  X509_free(cert);
  return hash;
}

Result<tls13::ServerCredentials> load_server_credentials(const std::string& certificate_file,
                                                         const std::string& key_file) {
  tls13::ServerCredentials out;
  std::unique_ptr<BIO, decltype(&BIO_free)> certs(BIO_new_file(certificate_file.c_str(), "r"), BIO_free);
  if (!certs) return fail(Errc::bad_config);
  while (X509* cert = PEM_read_bio_X509(certs.get(), nullptr, nullptr, nullptr)) {
    unsigned char* der = nullptr;
    int n = i2d_X509(cert, &der);
    if (n > 0) out.chain.emplace_back(der, der + n);
    OPENSSL_free(der);
    X509_free(cert);
  }
  ERR_clear_error();  // the loop ends on "no more PEM objects"
  std::unique_ptr<BIO, decltype(&BIO_free)> key(BIO_new_file(key_file.c_str(), "r"), BIO_free);
  if (!key) return fail(Errc::bad_config);
  out.key.reset(PEM_read_bio_PrivateKey(key.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
  // Its CertificateVerify is ecdsa_secp256r1_sha256: the key must be P-256, as `server init` makes.
  if (out.chain.empty() || !out.key || EVP_PKEY_get_base_id(out.key.get()) != EVP_PKEY_EC)
    return fail(Errc::bad_config);
  return out;
}

}  // namespace culvert::tls
