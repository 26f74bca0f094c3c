// Fuzzes the TLS 1.3 client's ServerHello / HelloRetryRequest parser.
#include "tls13/messages.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto sh = culvert::tls13::parse_server_hello({data, size});
  if (sh && sh->session_id_echo.size() > 32) __builtin_trap();
  if (sh && !sh->hello_retry_request && sh->key_share.empty()) __builtin_trap();
  return 0;
}
