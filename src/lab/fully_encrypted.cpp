#include "lab/fully_encrypted.h"

#include <bit>
#include <cstdio>

namespace culvert::lab {
namespace {

constexpr const char* kSource = "Wu et al., USENIX Security 2023, Algorithm 1 (§4-§6)";

bool printable(std::uint8_t b) { return b >= 0x20 && b <= 0x7e; }

}  // namespace

FullyEncryptedResult classify_first_packet(ByteSpan p) {
  FullyEncryptedResult r;
  if (p.empty()) {
    r.exempt = true;
    r.exemption = "empty";
    return r;
  }
  std::size_t bits = 0, printable_count = 0, run = 0, longest_run = 0;
  for (auto b : p) {
    bits += static_cast<std::size_t>(std::popcount(b));
    if (printable(b)) {
      ++printable_count;
      longest_run = std::max(longest_run, ++run);
    } else {
      run = 0;
    }
  }
  r.bits_per_byte = static_cast<double>(bits) / static_cast<double>(p.size());
  auto exempt = [&](const char* why) {
    r.exempt = true;
    r.exemption = why;
    return r;
  };
  // Ex1: average popcount per byte <= 3.4 or >= 4.6.
  if (r.bits_per_byte <= 3.4 || r.bits_per_byte >= 4.6) return exempt("Ex1");
  // Ex2: the first six bytes are printable ASCII.
  if (p.size() >= 6) {
    bool all = true;
    for (std::size_t i = 0; i < 6; ++i) all = all && printable(p[i]);
    if (all) return exempt("Ex2");
  }
  // Ex3: more than half of the bytes are printable.
  if (printable_count * 2 > p.size()) return exempt("Ex3");
  // Ex4: more than 20 contiguous printable bytes.
  if (longest_run > 20) return exempt("Ex4");
  // Ex5: starts like TLS (0x16/0x17, 0x03, 0x00-0x09) or HTTP.
  if (p.size() >= 3 && (p[0] == 0x16 || p[0] == 0x17) && p[1] == 0x03 && p[2] <= 0x09) return exempt("Ex5");
  for (std::string_view m : {"GET ", "PUT ", "POST ", "HEAD "}) {
    if (p.size() >= m.size() && as_chars(p.first(m.size())) == m) return exempt("Ex5");
  }
  // §4.5: a first packet of one byte followed by random data was never blocked.
  if (p.size() == 1) return exempt("observed-1-byte");
  return r;
}

Verdict fully_encrypted_verdict(ByteSpan first_client_packet) {
  auto r = classify_first_packet(first_client_packet);
  char buf[200];
  if (r.exempt) {
    std::snprintf(buf, sizeof buf, "first client packet (%zu bytes, %.2f bits/byte) exempt by %s",
                  first_client_packet.size(), r.bits_per_byte, r.exemption.c_str());
    return {"fully-encrypted", Outcome::pass, buf, kSource};
  }
  std::snprintf(buf, sizeof buf,
                "first client packet (%zu bytes, %.2f bits/byte) matches no exemption: candidate, blocked with "
                "probability %.1f%% (§6.3)",
                first_client_packet.size(), r.bits_per_byte, kFullyEncryptedBlockRate * 100);
  return {"fully-encrypted", Outcome::block, buf, kSource};
}

}  // namespace culvert::lab
