// Fuzzes the TLS 1.3 client's EncryptedExtensions parser.
#include "tls13/messages.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto ee = culvert::tls13::parse_encrypted_extensions({data, size});
  if (ee && !ee->alpn.empty() && ee->alpn != "h2" && ee->alpn != "http/1.1") __builtin_trap();
  return 0;
}
