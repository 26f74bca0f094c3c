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

// A long-lived tunnel must restart as fast as a fresh connection. After an idle spell (nothing in
// flight for at least the RTO) the kernel shrinks the congestion window, and the small bursts that
// follow fill BBR's bandwidth filter with low samples; BBR never repeats its start-up on a
// connection, so the next bulk transfer climbs back by 25 % per 8 round trips (measured: a 6 Mbit/s
// estimate on a 100 Mbit/s, 180 ms path, 3 MiB/s where a fresh connection ran at 5). When `fd` uses
// BBR and has been idle that long, this re-initialises the algorithm (via reno and back, both
// allowed to any user) so the next burst gets a fresh start-up; the window, RTT and loss state of
// the connection are kept. Returns whether it did. Cheap enough to call before every write that
// follows a wait for data (one getsockopt when the connection is busy).
bool restart_congestion_after_idle(int fd);

// Re-initialises BBR on `fd` now (nothing else: other algorithms are left alone). Returns whether it
// did. See core/congestion_watch.h for when.
bool restart_congestion(int fd);

}  // namespace culvert
