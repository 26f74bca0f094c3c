// SSRF guard: which destination addresses the server refuses to dial on a user's behalf
// (loopback, private, link-local, multicast, unspecified, and the like), unless the operator
// allows private destinations. Checked on resolved addresses, so a name cannot smuggle one in.
#pragma once

#include <asio/ip/address.hpp>

namespace culvert {

bool is_forbidden_destination(const asio::ip::address& address, bool allow_private);

}  // namespace culvert
