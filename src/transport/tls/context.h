// TLS contexts for both roles, and the client's server check (CA chain + hostname, or a pinned
// SPKI SHA-256). Contexts are created at startup; failures are startup errors.
#pragma once

#include <openssl/ssl.h>

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace culvert::tls {

struct SslCtxDeleter {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;

struct ServerTlsOptions {
  std::string certificate_file;  // PEM chain
  std::string key_file;          // PEM private key
  // ALPN protocols the cover site really speaks, in the server's order of preference.
  std::vector<std::string> alpn = {"http/1.1"};
};
struct ServerContext {
  SslCtxPtr ctx;
  // The ALPN list in wire format; the context's selection callback points at it.
  std::unique_ptr<std::vector<unsigned char>> alpn_wire;
};
Result<ServerContext> make_server_context(const ServerTlsOptions& options);

struct ClientTlsOptions {
  std::string sni;          // empty: no SNI
  std::string verify_host;  // name or IP checked against the certificate when no pin is given
  std::optional<std::array<std::uint8_t, 32>> spki_pin;
};
// A context for one server; make_client_ssl() then creates the SSL for each connection.
Result<SslCtxPtr> make_client_context(const ClientTlsOptions& options);
SSL* make_client_ssl(SSL_CTX* ctx, const ClientTlsOptions& options);

// SHA-256 over the DER SubjectPublicKeyInfo of `cert`.
std::array<std::uint8_t, 32> spki_sha256(X509* cert);

}  // namespace culvert::tls
