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

// Caps the bytes a tunnel socket holds unsent (TCP_NOTSENT_LOWAT): the rest of the stream waits in
// the mux, where the window accounting sees it, instead of in a kernel queue that can grow to
// megabytes on a slow path, delaying every other stream's frames and data a reset stream left.
void limit_unsent(int fd, int bytes);
inline constexpr int kTunnelUnsentLimit = 512 * 1024;

}  // namespace culvert
