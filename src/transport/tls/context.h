// The server's TLS context (OpenSSL), configured call for call as a stock Debian nginx 1.22
// configures its own (ngx_ssl_create, the http ssl module's defaults and Debian's nginx.conf:
// ssl_protocols TLSv1..TLSv1.3, ssl_prefer_server_ciphers on, ciphers HIGH:!aNULL:!MD5, session
// cache "none", tickets on with a 300 s lifetime, read-ahead, a 16 KiB handshake buffer, SNI
// acknowledged, ALPN chosen from nginx's list with a fatal alert when nothing matches), so that a
// prober's handshake meets what it would meet at nginx with the same certificate.
// Clients use Culvert's own TLS 1.3 client (src/tls13/). Contexts are created at startup;
// failures are startup errors.
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
  // ALPN protocols the cover site really speaks, in the server's order of preference ("h2",
  // "http/1.1"); http/1.1 brings http/1.0 and http/0.9 with it, as in nginx's list.
  std::vector<std::string> alpn = {"h2", "http/1.1"};
};
struct ServerContext {
  SslCtxPtr ctx;
  // The ALPN list in wire format; the context's selection callback points at it.
  std::unique_ptr<std::vector<unsigned char>> alpn_wire;
};
Result<ServerContext> make_server_context(const ServerTlsOptions& options);

// An SSL object for one accepted connection, with nginx's per-connection settings.
SSL* new_server_ssl(const ServerContext& context);

}  // namespace culvert::tls
