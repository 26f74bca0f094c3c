// Fuzzes the mux frame decoder over a stream of frames, and OPEN payloads.
#include "mux/frame.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  culvert::ByteSpan rest(data, size);
  while (!rest.empty()) {
    std::size_t used = 0;
    auto f = culvert::mux::decode_frame(rest, used);
    if (!f || !*f) break;
    if (used == 0 || used > rest.size()) __builtin_trap();
    if ((*f)->type == culvert::mux::FrameType::open) (void)culvert::mux::decode_open_payload((*f)->payload);
    rest = rest.subspan(used);
  }
  return 0;
}
