// The server's TLS context (OpenSSL). Clients use Culvert's own TLS 1.3 client (src/tls13/).
// Contexts are created at startup; failures are startup errors.
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

}  // namespace culvert::tls
