// The one place that decides what Culvert's TLS ClientHello looks like. Today it sets OpenSSL as
// close to current Chrome as OpenSSL 3.0 allows (cipher suites, groups, signature algorithms,
// ALPN, status_request, SCT); a browser-identical ClientHello replaces this file (issue 4).
#pragma once

#include <openssl/ssl.h>

namespace culvert::tls {

// Configures a client SSL_CTX: TLS 1.3 only, Chrome-ordered parameters. Returns false on failure.
bool apply_client_hello_profile(SSL_CTX* ctx);

}  // namespace culvert::tls
