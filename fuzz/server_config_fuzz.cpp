// Fuzzes the server's TOML configuration parser and validation.
#include "config/server_config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string message;
  auto c = culvert::parse_server_config({reinterpret_cast<const char*>(data), size}, "/data", "fuzz.toml", message);
  if (!c && message.empty()) __builtin_trap();
  return 0;
}
