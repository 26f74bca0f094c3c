#include "core/address_policy.h"

namespace culvert {
namespace {

bool v4_forbidden(const asio::ip::address_v4& a, bool allow_private) {
  auto b = a.to_bytes();
  if (b[0] == 0) return true;    // 0.0.0.0/8 "this network"
  if (b[0] >= 224) return true;  // multicast, reserved, broadcast
  if (allow_private) return false;
  if (b[0] == 127) return true;                            // loopback
  if (b[0] == 10) return true;                             // RFC 1918
  if (b[0] == 172 && (b[1] & 0xf0) == 16) return true;     // RFC 1918
  if (b[0] == 192 && b[1] == 168) return true;             // RFC 1918
  if (b[0] == 169 && b[1] == 254) return true;             // link-local (cloud metadata)
  if (b[0] == 100 && (b[1] & 0xc0) == 64) return true;     // RFC 6598 shared address space
  if (b[0] == 192 && b[1] == 0 && b[2] == 0) return true;  // IETF protocol assignments
  if (b[0] == 198 && (b[1] & 0xfe) == 18) return true;     // benchmarking
  return false;
}

}  // namespace

bool is_forbidden_destination(const asio::ip::address& address, bool allow_private) {
  if (address.is_v4()) return v4_forbidden(address.to_v4(), allow_private);
  auto a = address.to_v6();
  if (a.is_v4_mapped()) return v4_forbidden(asio::ip::make_address_v4(asio::ip::v4_mapped, a), allow_private);
  auto b = a.to_bytes();
  if (a.is_unspecified() || a.is_multicast()) return true;
  if (allow_private) return false;
  if (a.is_loopback() || a.is_link_local() || a.is_site_local()) return true;
  if ((b[0] & 0xfe) == 0xfc) return true;  // unique local fc00::/7
  // NAT64 and 6to4 embed IPv4 addresses that could be private; refuse them outright.
  if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b) return true;
  if (b[0] == 0x20 && b[1] == 0x02) return true;
  return false;
}

}  // namespace culvert
