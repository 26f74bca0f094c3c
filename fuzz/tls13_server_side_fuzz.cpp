// Fuzzes what the borrowed-site server parses from the network: a ClientHello from anyone, and the
// target's answer it imitates (ServerHello record, ChangeCipherSpec, encrypted record lengths).
#include "tls13/messages.h"
#include "tls13/server_stream.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  culvert::ByteSpan in(data, size);
  if (auto hello = culvert::tls13::parse_client_hello(in)) {
    if (hello->session_id.size() > 32) __builtin_trap();
    for (const auto& share : hello->key_shares)
      if (share.second.size() > size) __builtin_trap();
  }
  if (auto shape = culvert::tls13::parse_flight_shape(in)) {
    std::size_t total = 0;
    for (auto n : shape->encrypted_records) total += n;
    if (total > size) __builtin_trap();
  }
  return 0;
}
