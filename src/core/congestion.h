// Per-socket TCP congestion control (TCP_CONGESTION). Loss-based algorithms (cubic, reno) collapse
// on lossy international paths; BBR keeps most of the rate, so the server asks for it per socket
// instead of relying on the system default. Unprivileged processes may only pick algorithms listed in
// net.ipv4.tcp_allowed_congestion_control; on refusal the socket keeps the system default.
#pragma once

#include <string>

namespace culvert {

// Asks for `wanted` on socket `fd` (empty: leave the default) and returns the algorithm in effect
// afterwards ("" if it cannot be read, e.g. not a TCP socket).
std::string apply_congestion_control(int fd, const std::string& wanted);

// The algorithm in effect on `fd`, or "" if it cannot be read.
std::string congestion_control_of(int fd);

}  // namespace culvert
