// Certificates of pending tls-alpn-01 challenges (RFC 8737), by server name: the ACME thread adds
// one while the CA validates and removes it after; the server's TLS context answers a ClientHello
// that offers only "acme-tls/1" for that name with it. Thread-safe (a mutex).
#pragma once

#include <openssl/ssl.h>

#include <map>
#include <mutex>
#include <string>

namespace culvert::tls {

inline constexpr std::string_view kAcmeTlsAlpn = "acme-tls/1";

class AcmeChallenges {
 public:
  static AcmeChallenges& instance();
  ~AcmeChallenges();

  // Takes ownership of `certificate` and `key`.
  void add(const std::string& name, X509* certificate, EVP_PKEY* key);
  void remove(const std::string& name);
  // Puts the challenge certificate for `name` on `ssl`; false when none is pending for it.
  bool install(SSL* ssl, const std::string& name);

 private:
  struct Entry {
    X509* certificate = nullptr;
    EVP_PKEY* key = nullptr;
  };
  std::mutex mutex_;
  std::map<std::string, Entry> entries_;
};

}  // namespace culvert::tls
