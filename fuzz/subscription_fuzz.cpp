// Fuzzes what a subscription URL answers (base64 or plain lists of links) and subscription URLs
// themselves: parsed or refused, never out of bounds; every server parsed has a usable name.
#include <string_view>

#include "client/https_get.h"
#include "client/subscription.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto servers = culvert::parse_subscription(text)) {
    for (const auto& s : *servers)
      if (s.name.empty() || s.name.size() > 70 || s.name == "direct" || s.name == "block") __builtin_trap();
  }
  if (auto url = culvert::parse_https_url(text); url && (url->host.empty() || url->port == 0)) __builtin_trap();
  return 0;
}
