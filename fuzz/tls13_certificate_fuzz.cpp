// Fuzzes the Certificate parser and, through it, the brotli CompressedCertificate path: the first
// input byte chooses which message the rest is.
#include "tls13/messages.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  culvert::ByteSpan body(data + 1, size - 1);
  if (data[0] & 1) {
    auto inflated = culvert::tls13::decompress_certificate(body);
    if (inflated) {
      if (inflated->size() > culvert::tls13::kMaxHandshakeMessage) __builtin_trap();
      (void)culvert::tls13::parse_certificate(*inflated);
    }
  } else {
    auto chain = culvert::tls13::parse_certificate(body);
    if (chain && chain->empty()) __builtin_trap();
  }
  return 0;
}
