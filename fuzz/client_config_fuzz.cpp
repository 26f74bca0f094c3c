// Fuzzes the client configuration parser (TOML, share links, rules, groups).
#include "config/client_config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string message;
  auto config = culvert::parse_client_config(std::string_view(reinterpret_cast<const char*>(data), size),
                                             "/nonexistent", message);
  if (!config && message.empty()) __builtin_trap();  // every refusal says why
  return 0;
}
