#include "server/metrics.h"

#include <cstdio>

namespace culvert {

void Histogram::observe(double seconds) {
  ++count;
  sum += seconds;
  for (std::size_t i = 0; i < kBounds.size(); ++i) {
    if (seconds <= kBounds[i]) {
      ++buckets[i];
      return;
    }
  }
}

namespace {

void metric(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void sample(std::string& out, const std::string& name, std::uint64_t value) {
  out += name + ' ' + std::to_string(value) + '\n';
}

void histogram(std::string& out, const char* name, const char* help, const Histogram& h) {
  metric(out, name, "histogram", help);
  std::uint64_t cumulative = 0;
  char bound[32];
  for (std::size_t i = 0; i < Histogram::kBounds.size(); ++i) {
    cumulative += h.buckets[i];
    std::snprintf(bound, sizeof bound, "%g", Histogram::kBounds[i]);
    sample(out, std::string(name) + "_bucket{le=\"" + bound + "\"}", cumulative);
  }
  sample(out, std::string(name) + "_bucket{le=\"+Inf\"}", h.count);
  char sum[64];
  std::snprintf(sum, sizeof sum, "%.6f", h.sum);
  out += std::string(name) + "_sum " + sum + '\n';
  sample(out, std::string(name) + "_count", h.count);
}

}  // namespace

std::string render_metrics(const ServerMetrics& m, const LiveTunnels& live) {
  std::string out;
  metric(out, "culvert_connections_total", "counter", "TCP connections accepted on the public port.");
  sample(out, "culvert_connections_total", m.connections_total);
  metric(out, "culvert_handshake_failures_total", "counter", "TLS handshakes that failed or timed out.");
  sample(out, "culvert_handshake_failures_total", m.handshake_failures_total);
  metric(out, "culvert_auth_failures_total", "counter", "Connections without a valid user preamble.");
  sample(out, "culvert_auth_failures_total", m.auth_failures_total);
  metric(out, "culvert_cover_relays_total", "counter", "Connections relayed to the cover site.");
  sample(out, "culvert_cover_relays_total", m.cover_relays_total);
  metric(out, "culvert_tunnels_opened_total", "counter", "User tunnels opened.");
  sample(out, "culvert_tunnels_opened_total", m.tunnels_opened_total);
  metric(out, "culvert_tunnels_open", "gauge", "User tunnels open now.");
  sample(out, "culvert_tunnels_open", live.open);
  metric(out, "culvert_streams_opened_total", "counter", "Streams opened in user tunnels.");
  sample(out, "culvert_streams_opened_total", m.streams_closed_total + live.streams_opened);
  metric(out, "culvert_streams_open", "gauge", "Streams open now.");
  sample(out, "culvert_streams_open", live.streams_open);
  metric(out, "culvert_tunnel_bytes_total", "counter", "Bytes of user tunnels on the wire.");
  sample(out, "culvert_tunnel_bytes_total{direction=\"in\"}", m.bytes_in_closed + live.bytes_in);
  sample(out, "culvert_tunnel_bytes_total{direction=\"out\"}", m.bytes_out_closed + live.bytes_out);
  metric(out, "culvert_dial_errors_total", "counter", "Destinations that could not be dialed, by class.");
  sample(out, "culvert_dial_errors_total{class=\"refused\"}", m.dial_refused_total);
  sample(out, "culvert_dial_errors_total{class=\"timeout\"}", m.dial_timeout_total);
  sample(out, "culvert_dial_errors_total{class=\"failed\"}", m.dial_failed_total);
  metric(out, "culvert_udp_associations_total", "counter", "UDP associations opened.");
  sample(out, "culvert_udp_associations_total", m.udp_associations_total);
  metric(out, "culvert_udp_associations_refused_total", "counter", "UDP associations over a user's limit.");
  sample(out, "culvert_udp_associations_refused_total", m.udp_associations_refused_total);
  metric(out, "culvert_udp_associations_open", "gauge", "UDP associations open now.");
  sample(out, "culvert_udp_associations_open", m.udp_associations_open);
  metric(out, "culvert_udp_datagrams_dropped_total", "counter", "Datagrams dropped by the server's UDP relay.");
  sample(out, "culvert_udp_datagrams_dropped_total", m.udp_datagrams_dropped_total);
  metric(out, "culvert_tunnels_refused_total", "counter", "Valid users' tunnels refused by a limit.");
  sample(out, "culvert_tunnels_refused_total{limit=\"server\"}", m.refused_tunnel_limit_total);
  sample(out, "culvert_tunnels_refused_total{limit=\"user\"}", m.refused_user_tunnel_limit_total);
  sample(out, "culvert_tunnels_refused_total{limit=\"memory\"}", m.refused_tunnel_memory_total);
  metric(out, "culvert_streams_refused_total", "counter", "Streams refused because the memory budget was reached.");
  sample(out, "culvert_streams_refused_total{limit=\"memory\"}", m.refused_streams_memory_total);
  metric(out, "culvert_buffered_bytes", "gauge", "Bytes received and waiting for their destinations.");
  sample(out, "culvert_buffered_bytes", live.buffered_bytes);
  metric(out, "culvert_store_errors_total", "counter", "User store operations that failed.");
  sample(out, "culvert_store_errors_total", m.store_errors_total);
  metric(out, "culvert_reloads_total", "counter", "Configuration reloads (SIGHUP), by result.");
  sample(out, "culvert_reloads_total{result=\"ok\"}", m.reloads_total);
  sample(out, "culvert_reloads_total{result=\"failed\"}", m.reload_failures_total);
  histogram(out, "culvert_handshake_seconds", "TLS handshake time of connections that completed one.",
            m.handshake_seconds);
  histogram(out, "culvert_dial_seconds", "Time to connect to a destination.", m.dial_seconds);
  return out;
}

}  // namespace culvert
