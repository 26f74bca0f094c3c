// Fuzzes the QUIC TLS server (quic/server_tls.h) with what a hostile client could send in CRYPTO
// frames: a series of chunks, each [level byte][u16 length][bytes], handed to receive() at that
// level until one is refused. An input whose first byte is 0xff starts instead with a well-formed
// Chromium QUIC ClientHello from Culvert's own client, so that the states after the hello (the
// client's Finished and whatever follows it) are reached too. Nothing may crash or leak; a
// refusal must name an alert.
#include <openssl/evp.h>

#include "quic/client_tls.h"
#include "quic/server_tls.h"

namespace {

std::shared_ptr<const culvert::tls13::ServerCredentials> identity() {
  // The server never parses its own chain, so any bytes stand for it; the key must be P-256.
  static auto made = [] {
    auto credentials = std::make_shared<culvert::tls13::ServerCredentials>();
    credentials->chain = {culvert::Bytes(300, 0x30)};
    credentials->key.reset(EVP_EC_gen("P-256"), EVP_PKEY_free);
    return credentials;
  }();
  return made;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  culvert::quic::ServerTlsConfig config;
  config.identity = identity();
  config.transport_parameters = {0x01, 0x02, 0x75, 0x30};
  culvert::quic::ServerTls tls(config);
  std::size_t at = 0;
  if (size > 0 && data[0] == 0xff) {
    culvert::quic::ClientTlsConfig client_config;
    client_config.server_name = "fuzz.example";
    client_config.accept_any_certificate = true;
    client_config.transport_parameters = {0x01, 0x02, 0x75, 0x30};
    culvert::quic::ClientTls client(client_config);
    culvert::quic::TlsEvents hello, out;
    if (!client.start(hello) || !tls.receive(culvert::quic::Level::initial, hello.send.at(0).second, out))
      __builtin_trap();
    at = 1;
  }
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
