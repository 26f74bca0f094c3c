// Fuzzes the QUIC TLS client (quic/client_tls.h) with what a hostile server could send in CRYPTO
// frames: after start(), the input is a series of chunks, each [level byte][u16 length][bytes],
// handed to receive() at that level until one is refused. Nothing may crash or leak; a refusal
// must name an alert.
#include "quic/client_tls.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  culvert::quic::ClientTlsConfig config;
  config.server_name = "fuzz.example";
  config.accept_any_certificate = true;
  config.transport_parameters = {0x01, 0x02, 0x75, 0x30};
  culvert::quic::ClientTls tls(config);
  culvert::quic::TlsEvents events;
  if (!tls.start(events)) __builtin_trap();
  std::size_t at = 0;
  while (size - at >= 3) {
    auto level = static_cast<culvert::quic::Level>(data[at] % 3);
    std::size_t length = static_cast<std::size_t>(data[at + 1]) << 8 | data[at + 2];
    at += 3;
    length = std::min(length, size - at);
    culvert::quic::TlsEvents out;
    if (!tls.receive(level, culvert::ByteSpan(data + at, length), out)) {
      if (tls.alert() == 0) __builtin_trap();
      break;
    }
    at += length;
  }
  return 0;
}
