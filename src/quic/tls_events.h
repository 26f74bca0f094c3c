// What the TLS 1.3 handshake of a QUIC connection hands to the QUIC stack (RFC 9001 §4): the
// three encryption levels, the secrets installed at each, and what one step of either end's
// handshake produced. Shared by the client (client_tls.h) and the server (server_tls.h).
#pragma once

#include <optional>
#include <utility>
#include <vector>

#include "core/bytes.h"
#include "tls13/key_schedule.h"

namespace culvert::quic {

enum class Level { initial, handshake, application };

struct LevelSecrets {
  const tls13::CipherSuite* suite = nullptr;
  Bytes rx, tx;  // the peer's traffic secret and ours
};

// What one step of the handshake produced, in the order it must be acted on: install keys, then
// send the messages.
struct TlsEvents {
  std::vector<std::pair<Level, Bytes>> send;
  std::optional<LevelSecrets> handshake_keys;
  std::optional<LevelSecrets> application_keys;
  bool complete = false;
};

}  // namespace culvert::quic
