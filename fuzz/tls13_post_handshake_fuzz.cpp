// Fuzzes the smaller TLS 1.3 handshake messages (CertificateVerify, NewSessionTicket, KeyUpdate)
// and the framer that cuts handshake plaintext into messages.
#include "tls13/messages.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  culvert::ByteSpan in(data, size);
  (void)culvert::tls13::parse_certificate_verify(in);
  (void)culvert::tls13::parse_new_session_ticket(in);
  (void)culvert::tls13::parse_key_update(in);
  culvert::tls13::HandshakeFramer framer;
  // Feed in uneven pieces, as records would cut it.
  std::size_t at = 0;
  for (std::size_t piece = 1; at < size; piece = piece * 3 % 17 + 1) {
    std::size_t n = std::min(piece, size - at);
    framer.append(in.subspan(at, n));
    at += n;
    for (;;) {
      auto m = framer.next();
      if (!m || !*m) break;
      if ((*m)->raw.size() < 4) __builtin_trap();
    }
  }
  return 0;
}
