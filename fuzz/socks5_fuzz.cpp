// Fuzzes the SOCKS5 codec: greeting, request, the error-reply choice and the UDP header.
#include "inbound/socks5/codec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  culvert::ByteSpan in(data, size);
  if (auto g = culvert::socks5::parse_greeting(in); g && g->size > size) __builtin_trap();
  auto r = culvert::socks5::parse_request(in);
  if (r && r->size > size) __builtin_trap();
  (void)culvert::socks5::reply_for_error(in);
  if (auto u = culvert::socks5::parse_udp_header(in); u && u->size > size) __builtin_trap();
  return 0;
}
