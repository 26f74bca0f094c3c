// Self-signed certificate generation for `culvert server init`: an ECDSA P-256 key and a
// certificate for the server's name (or IP), which share links pin by SPKI hash.
#pragma once

#include <array>
#include <string>

#include "core/result.h"
#include "tls13/server_stream.h"

namespace culvert::tls {

struct GeneratedCertificate {
  std::string certificate_pem;
  std::string key_pem;
  std::array<std::uint8_t, 32> spki_sha256{};
};

Result<GeneratedCertificate> generate_self_signed(const std::string& name, int valid_days);
// SPKI SHA-256 of the first certificate in a PEM file.
Result<std::array<std::uint8_t, 32>> spki_sha256_of_file(const std::string& pem_path);

// The chain (DER, leaf first) and key of PEM files, for Culvert's own TLS 1.3 server side.
Result<tls13::ServerCredentials> load_server_credentials(const std::string& certificate_file,
                                                         const std::string& key_file);

}  // namespace culvert::tls
