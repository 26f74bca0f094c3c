// Server metrics in the Prometheus text format (served at /metrics on the admin listener).
// Aggregates only: no label carries a user secret, a client address or a destination.
// Thread model: the server's single-threaded executor; plain integers.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace culvert {

// Latency histogram with fixed buckets from 1 ms to 30 s.
struct Histogram {
  static constexpr std::array<double, 12> kBounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30};
  std::array<std::uint64_t, kBounds.size()> buckets{};  // non-cumulative counts per bucket
  std::uint64_t count = 0;
  double sum = 0;

  void observe(double seconds);
};

struct ServerMetrics {
  std::uint64_t connections_total = 0;         // TCP connections accepted on the public port
  std::uint64_t handshake_failures_total = 0;  // TLS handshakes that failed or timed out
  std::uint64_t auth_failures_total = 0;       // handshakes done, no valid preamble: sent to the cover
  std::uint64_t cover_relays_total = 0;        // connections relayed to the cover site / borrowed target
  std::uint64_t tunnels_opened_total = 0;
  std::uint64_t streams_closed_total = 0;  // streams of tunnels that ended (open ones are added at render)
  std::uint64_t bytes_in_closed = 0;       // transport bytes of tunnels that ended
  std::uint64_t bytes_out_closed = 0;
  std::uint64_t dial_refused_total = 0;  // SSRF guard
  std::uint64_t dial_timeout_total = 0;
  std::uint64_t dial_failed_total = 0;
  std::uint64_t udp_associations_total = 0;
  std::uint64_t udp_associations_refused_total = 0;  // over a user's limit
  std::uint64_t udp_associations_open = 0;
  std::uint64_t udp_datagrams_dropped_total = 0;
  std::uint64_t store_errors_total = 0;
  std::uint64_t refused_tunnel_limit_total = 0;       // the server's max_tunnels reached
  std::uint64_t refused_user_tunnel_limit_total = 0;  // a user's tunnel limit reached
  std::uint64_t refused_tunnel_memory_total = 0;      // memory budget reached
  std::uint64_t refused_streams_memory_total = 0;
  std::uint64_t reloads_total = 0;
  std::uint64_t reload_failures_total = 0;
  Histogram handshake_seconds;
  Histogram dial_seconds;
};

// What render() needs from the live tunnels at that moment.
struct LiveTunnels {
  std::uint64_t open = 0;
  std::uint64_t streams_open = 0;
  std::uint64_t streams_opened = 0;  // over the open tunnels' lifetimes
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::uint64_t buffered_bytes = 0;  // received, waiting for destinations (mux::buffered_bytes)
};

std::string render_metrics(const ServerMetrics& m, const LiveTunnels& live);

}  // namespace culvert
