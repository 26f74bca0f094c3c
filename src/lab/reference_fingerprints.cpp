#include "lab/reference_fingerprints.h"

#include "lab/client_hello.h"
#include "lab/reference_hellos_data.h"

namespace culvert::lab {

const std::vector<ReferenceHello>& reference_hellos() {
  static const std::vector<ReferenceHello> hellos = [] {
    std::vector<ReferenceHello> out;
    for (const auto& entry : kReferenceHelloData)
      out.push_back({entry.name, Bytes(entry.data, entry.data + entry.size)});
    return out;
  }();
  return hellos;
}

const std::vector<ReferenceFingerprint>& reference_fingerprints() {
  static const std::vector<ReferenceFingerprint> prints = [] {
    std::vector<ReferenceFingerprint> out;
    for (const auto& h : reference_hellos()) {
      auto parsed = parse_client_hello(h.bytes);
      if (parsed) out.push_back({h.name, ja4(*parsed), ja3_hash(*parsed)});
    }
    return out;
  }();
  return prints;
}

}  // namespace culvert::lab
