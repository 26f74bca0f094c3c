// An ACME client (RFC 8555) that obtains a certificate for one DNS name, proving control with the
// tls-alpn-01 challenge (RFC 8737) on the server's own TLS port: the challenge certificate is put
// in tls::AcmeChallenges, where the server's TLS context finds it when the CA connects.
// Blocking; runs on the ACME thread (acme/manager.h).
#pragma once

#include <atomic>
#include <string>

#include "core/result.h"

namespace culvert::acme {

struct OrderOptions {
  std::string directory;         // the CA's directory URL
  std::string email;             // account contact, "" for none
  std::string ca_file;           // extra CA certificates to trust for the directory's HTTPS
  std::string account_key_file;  // created (0600) on first use
  std::string name;              // the DNS name to certify
  // Checked between steps and while polling: set it to give up (the server is stopping).
  const std::atomic<bool>* cancelled = nullptr;
};

struct Issued {
  std::string certificate_pem;  // the chain: leaf first
  std::string key_pem;          // a new P-256 key
};

// Registers (or finds) the account, orders, answers the challenge, finalizes and downloads the
// chain. `error` says what failed, for the operator's log.
Result<Issued> obtain_certificate(const OrderOptions& options, std::string& error);

}  // namespace culvert::acme
