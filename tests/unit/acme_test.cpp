// The ACME client's pure parts: JWK and thumbprint, ES256 JWS that OpenSSL verifies, the CSR and
// the RFC 8737 challenge certificate, and the HTTP answer parser. The protocol run itself is
// tested against pebble (test_acme.py).
#include "acme/jws.h"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>

#include "acme/https.h"
#include "acme/manager.h"
#include "crypto/crypto.h"

namespace culvert::acme {
namespace {

Bytes unbase64url(const std::string& s) { return crypto::base64url_decode(s).value_or(Bytes{}); }

TEST(AcmeJws, JwkHasTheMembersInThumbprintOrder) {
  auto key = generate_p256();
  auto j = jwk(key.get());
  EXPECT_TRUE(std::regex_match(
      j, std::regex(R"(\{"crv":"P-256","kty":"EC","x":"[A-Za-z0-9_-]{43}","y":"[A-Za-z0-9_-]{43}"\})")))
      << j;
  auto digest = crypto::sha256(as_bytes(j));
  EXPECT_EQ(thumbprint(key.get()), base64url(ByteSpan(digest.data(), digest.size())));
  EXPECT_EQ(key_authorization("tok", key.get()), "tok." + thumbprint(key.get()));
}

TEST(AcmeJws, SignatureVerifiesWithTheAccountKey) {
  auto key = generate_p256();
  auto body = nlohmann::json::parse(sign(key.get(), "", "nonce-1", "https://ca/new-acct", "{\"a\":1}"));
  auto header = nlohmann::json::parse(std::string(as_chars(unbase64url(body["protected"]))));
  EXPECT_EQ(header["alg"], "ES256");
  EXPECT_EQ(header["nonce"], "nonce-1");
  EXPECT_EQ(header["url"], "https://ca/new-acct");
  EXPECT_TRUE(header.contains("jwk"));
  EXPECT_EQ(std::string(as_chars(unbase64url(body["payload"]))), "{\"a\":1}");
  // r || s back to DER, then OpenSSL's verify over "protected.payload".
  auto raw = unbase64url(body["signature"]);
  ASSERT_EQ(raw.size(), 64u);
  ECDSA_SIG* sig = ECDSA_SIG_new();
  ECDSA_SIG_set0(sig, BN_bin2bn(raw.data(), 32, nullptr), BN_bin2bn(raw.data() + 32, 32, nullptr));
  unsigned char* der = nullptr;
  int der_len = i2d_ECDSA_SIG(sig, &der);
  std::string input = body["protected"].get<std::string>() + "." + body["payload"].get<std::string>();
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  EVP_DigestVerifyInit(md, nullptr, EVP_sha256(), nullptr, key.get());
  EXPECT_EQ(EVP_DigestVerify(md, der, static_cast<std::size_t>(der_len),
                             reinterpret_cast<const unsigned char*>(input.data()), input.size()),
            1);
  EVP_MD_CTX_free(md);
  OPENSSL_free(der);
  ECDSA_SIG_free(sig);
  // With an account URL, the key id replaces the JWK; POST-as-GET has an empty payload.
  auto kid = nlohmann::json::parse(sign(key.get(), "https://ca/acct/1", "n", "https://ca/order", ""));
  auto kid_header = nlohmann::json::parse(std::string(as_chars(unbase64url(kid["protected"]))));
  EXPECT_EQ(kid_header["kid"], "https://ca/acct/1");
  EXPECT_FALSE(kid_header.contains("jwk"));
  EXPECT_EQ(kid["payload"], "");
}

TEST(AcmeJws, ChallengeCertificateCarriesTheCriticalAcmeIdentifier) {
  auto key = generate_p256();
  auto cert = tls_alpn_certificate(key.get(), "vpn.example.org", "tok.thumb");
  ASSERT_TRUE(cert);
  EXPECT_EQ(X509_check_host(cert.get(), "vpn.example.org", 0, 0, nullptr), 1);
  ASN1_OBJECT* oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
  int index = X509_get_ext_by_OBJ(cert.get(), oid, -1);
  ASN1_OBJECT_free(oid);
  ASSERT_GE(index, 0);
  X509_EXTENSION* ext = X509_get_ext(cert.get(), index);
  EXPECT_EQ(X509_EXTENSION_get_critical(ext), 1);
  ASN1_OCTET_STRING* data = X509_EXTENSION_get_data(ext);
  auto digest = crypto::sha256(as_bytes("tok.thumb"));
  Bytes expected{0x04, 0x20};
  expected.insert(expected.end(), digest.begin(), digest.end());
  EXPECT_EQ(Bytes(data->data, data->data + data->length), expected);
  EXPECT_EQ(X509_verify(cert.get(), key.get()), 1);
}

TEST(AcmeJws, CsrNamesTheHostAndIsSigned) {
  auto key = generate_p256();
  auto der = csr_der(key.get(), "vpn.example.org");
  const unsigned char* p = der.data();
  X509_REQ* req = d2i_X509_REQ(nullptr, &p, static_cast<long>(der.size()));
  ASSERT_NE(req, nullptr);
  EXPECT_EQ(X509_REQ_verify(req, key.get()), 1);
  STACK_OF(X509_EXTENSION)* exts = X509_REQ_get_extensions(req);
  bool found = false;
  for (int i = 0; i < sk_X509_EXTENSION_num(exts); ++i) {
    auto* names = static_cast<GENERAL_NAMES*>(X509V3_EXT_d2i(sk_X509_EXTENSION_value(exts, i)));
    if (!names) continue;
    for (int j = 0; j < sk_GENERAL_NAME_num(names); ++j) {
      auto* n = sk_GENERAL_NAME_value(names, j);
      if (n->type == GEN_DNS &&
          std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(n->d.dNSName))) == "vpn.example.org")
        found = true;
    }
    GENERAL_NAMES_free(names);
  }
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  X509_REQ_free(req);
  EXPECT_TRUE(found);
}

TEST(AcmeHttp, ParsesStatusHeadersAndChunkedBodies) {
  auto r = parse_http_response(
      "HTTP/1.1 201 Created\r\nReplay-Nonce: abc\r\nLocation: https://ca/acct/1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->header("replay-nonce"), "abc");
  EXPECT_EQ(r->header("location"), "https://ca/acct/1");
  EXPECT_EQ(r->body, "{\"a\":1}");
  EXPECT_FALSE(parse_http_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nshort"));
  EXPECT_FALSE(parse_http_response("SSH-2.0-x\r\n\r\n"));
  EXPECT_FALSE(parse_http_response("HTTP/1.1 2x0 OK\r\n\r\n"));
  EXPECT_FALSE(parse_http_response("HTTP/1.1 200 OK\r\n"));
}

TEST(AcmeManager, SelfSignedCertificateIsNotCurrent) {
  auto dir = std::filesystem::temp_directory_path() / ("culvert-acme-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto key = generate_p256();
  // A self-signed certificate for the name (what init writes until the CA's arrives).
  auto cert = tls_alpn_certificate(key.get(), "vpn.example.org", "x");
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert.get());
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  auto path = (dir / "cert.pem").string();
  FILE* f = std::fopen(path.c_str(), "w");
  std::fwrite(pem.data(), 1, pem.size(), f);
  std::fclose(f);
  EXPECT_FALSE(Manager::certificate_is_current(path, "vpn.example.org", std::chrono::hours(0)));
  EXPECT_FALSE(
      Manager::certificate_is_current((dir / "missing.pem").string(), "vpn.example.org", std::chrono::hours(0)));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace culvert::acme
