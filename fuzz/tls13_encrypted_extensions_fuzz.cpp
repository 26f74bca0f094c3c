// Fuzzes the TLS 1.3 client's EncryptedExtensions parser.
#include "tls13/messages.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto ee = culvert::tls13::parse_encrypted_extensions({data, size});
  // Only the protocols a Culvert client offers over TCP (h2, http/1.1) or QUIC (h3) come back.
  if (ee && !ee->alpn.empty() && ee->alpn != "h2" && ee->alpn != "http/1.1" && ee->alpn != "h3") __builtin_trap();
  return 0;
}
