// Fuzzes the lab's ClientHello parser and fingerprints, and the flow-file parser.
#include "lab/client_hello.h"
#include "lab/flow.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  culvert::ByteSpan in(data, size);
  if (auto hello = culvert::lab::parse_client_hello(in)) {
    auto ja4 = culvert::lab::ja4(*hello);
    if (ja4.size() != 36 || ja4[10] != '_' || ja4[23] != '_') __builtin_trap();
    (void)culvert::lab::ja3_hash(*hello);
  }
  (void)culvert::lab::parse_flow(culvert::as_chars(in));
  return 0;
}
