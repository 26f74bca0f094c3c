#include "transport/tls/acme_challenges.h"

namespace culvert::tls {

AcmeChallenges& AcmeChallenges::instance() {
  static AcmeChallenges challenges;
  return challenges;
}

AcmeChallenges::~AcmeChallenges() {
  for (auto& [name, e] : entries_) {
    X509_free(e.certificate);
    EVP_PKEY_free(e.key);
  }
}

void AcmeChallenges::add(const std::string& name, X509* certificate, EVP_PKEY* key) {
  std::lock_guard lock(mutex_);
  auto& e = entries_[name];
  X509_free(e.certificate);
  EVP_PKEY_free(e.key);
  e = {certificate, key};
}

void AcmeChallenges::remove(const std::string& name) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(name);
  if (it == entries_.end()) return;
  X509_free(it->second.certificate);
  EVP_PKEY_free(it->second.key);
  entries_.erase(it);
}

bool AcmeChallenges::install(SSL* ssl, const std::string& name) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(name);
  if (it == entries_.end()) return false;
  return SSL_use_certificate(ssl, it->second.certificate) == 1 && SSL_use_PrivateKey(ssl, it->second.key) == 1;
}

}  // namespace culvert::tls
