// The crypto half of ngtcp2's callbacks, on Culvert's packet protection (packet_protection.h)
// instead of a TLS library's helper: Debian's only helper is GnuTLS, whose ClientHello would be a
// fingerprint of its own, while Culvert's TLS 1.3 code sends Chromium's. ngtcp2 keeps opaque
// handles: an AEAD handle is the tls13::CipherSuite, an AEAD context an `Aead`, a cipher context a
// `HeaderProtection`, each freed through the delete callbacks set here.
#pragma once

#include <ngtcp2/ngtcp2.h>

#include "core/bytes.h"
#include "quic/packet_protection.h"

namespace culvert::quic {

// Sets encrypt, decrypt, hp_mask, update_key, the two delete callbacks, rand and
// get_path_challenge_data. The connection's callbacks for the handshake and streams are the
// caller's.
void set_crypto_callbacks(ngtcp2_callbacks& callbacks);

// What ngtcp2 calls a crypto context: the suite as AEAD, hash and header-protection cipher, with
// RFC 9001 §6.6's limits.
ngtcp2_crypto_ctx crypto_context(const tls13::CipherSuite& suite);

// Initial keys from the client's first Destination Connection ID; `client` says which side this
// connection is. Sets the Initial crypto context too. 0 or an NGTCP2_ERR_* code.
int install_initial_keys(ngtcp2_conn* conn, ByteSpan client_destination_id, std::uint32_t version, bool client);

// Handshake and 1-RTT keys from the TLS secrets of this side (`tx`) and the peer's (`rx`); both
// set the connection's crypto context (the two levels share it). 0 or an NGTCP2_ERR_* code.
int install_handshake_keys(ngtcp2_conn* conn, const tls13::CipherSuite& suite, std::uint32_t version, ByteSpan rx,
                           ByteSpan tx);
int install_application_keys(ngtcp2_conn* conn, const tls13::CipherSuite& suite, std::uint32_t version, ByteSpan rx,
                             ByteSpan tx);

}  // namespace culvert::quic
