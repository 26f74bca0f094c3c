#include "lab/tls_in_tls.h"

#include <cstdio>

namespace culvert::lab {
namespace {

constexpr const char* kSource = "Xue et al., USENIX Security 2024 (hand-written stand-in for their classifier)";
// TLS 1.3 record protection adds a 16-byte tag and a 1-byte inner content type.
constexpr std::size_t kAeadOverhead = 17;

struct Burst {
  Direction direction;
  std::size_t plaintext = 0;
};

}  // namespace

std::vector<TlsRecord> tls_records(const Flow& flow) {
  std::vector<TlsRecord> out;
  Bytes pending[2];
  bool broken[2] = {false, false};
  for (std::size_t i = 0; i < flow.size(); ++i) {
    int d = flow[i].direction == Direction::client_to_server ? 0 : 1;
    if (broken[d]) continue;
    auto& buf = pending[d];
    buf.insert(buf.end(), flow[i].bytes.begin(), flow[i].bytes.end());
    std::size_t pos = 0;
    while (buf.size() - pos >= 5) {
      std::uint8_t type = buf[pos];
      if (type < 0x14 || type > 0x18 || buf[pos + 1] != 0x03) {
        broken[d] = true;
        break;
      }
      std::size_t len = (buf[pos + 3] << 8) | buf[pos + 4];
      if (buf.size() - pos < 5 + len) break;
      out.push_back({flow[i].direction, type, len, i});
      pos += 5 + len;
    }
    buf.erase(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(pos));
  }
  return out;
}

Verdict tls_in_tls_verdict(const Flow& flow) {
  Verdict v{"tls-in-tls", Outcome::pass, "", kSource};
  auto records = tls_records(flow);
  if (records.empty() || records.front().type != 0x16) {
    v.reason = "not a TLS connection";
    return v;
  }
  // 1. Pre-filter: round trips within the first 15 records.
  int changes = 0;
  for (std::size_t i = 1; i < records.size() && i < 15; ++i)
    if (records[i].direction != records[i - 1].direction) ++changes;
  double round_trips = (changes + 1) / 2.0;
  // 2. Bursts of application data, starting at the client's first one (server records before it,
  //    such as session tickets, belong to the outer handshake).
  std::vector<Burst> bursts;
  bool started = false;
  bool skipped_finished = false;
  for (const auto& r : records) {
    if (r.type != 0x17) continue;
    if (!started && r.direction != Direction::client_to_server) continue;
    // In TLS 1.3 the client's first encrypted record is its own Finished (53 or 69 bytes).
    if (!skipped_finished && r.direction == Direction::client_to_server && r.length <= 80) {
      skipped_finished = true;
      continue;
    }
    skipped_finished = true;
    started = true;
    std::size_t plain = r.length > kAeadOverhead ? r.length - kAeadOverhead : 0;
    if (bursts.empty() || bursts.back().direction != r.direction) bursts.push_back({r.direction, 0});
    bursts.back().plaintext += plain;
  }
  char buf[240];
  if (round_trips < 2.5) {
    std::snprintf(buf, sizeof buf, "%.1f round trips in the first 15 records (pre-filter needs 2.5)", round_trips);
    v.reason = buf;
    return v;
  }
  if (bursts.size() < 3) {
    v.reason = "fewer than three application-data bursts";
    return v;
  }
  // A proxy may send its own request header alone before the inner ClientHello reaches it, and the
  // outer server's session ticket can land in between (trojan does both, depending on timing). So
  // the inner handshake may start at the second client burst when the first exchange is that pair:
  // a header under 100 bytes and a server burst of a stateful TLS 1.3 ticket's size (OpenSSL's is
  // 57 bytes; the message's fixed fields and a 16-byte ticket id alone take 33). Not more: an
  // HTTP/2 connection's opening (a preface burst, then a 9-byte SETTINGS or ACK frame) is not a
  // ticket, and browsing over it is not to be read as a handshake inside.
  auto hello_sized = [&](std::size_t i) { return bursts[i].plaintext >= 250 && bursts[i].plaintext <= 3000; };
  auto ticket_sized = [&](std::size_t i) { return bursts[i].plaintext >= 33 && bursts[i].plaintext < 100; };
  std::size_t start = 0;
  if (bursts.size() >= 5 && bursts[0].plaintext < 100 && ticket_sized(1)) start = 2;
  bool flight_sized = bursts[start + 1].plaintext >= 600;
  int used =
      std::snprintf(buf, sizeof buf, "first bursts %zu (client) / %zu (server) / %zu (client) bytes, %.1f round trips",
                    bursts[start].plaintext, bursts[start + 1].plaintext, bursts[start + 2].plaintext, round_trips);
  if (start > 0 && used > 0 && static_cast<std::size_t>(used) < sizeof buf)
    std::snprintf(buf + used, sizeof buf - static_cast<std::size_t>(used),
                  ", after a %zu-byte header and a %zu-byte ticket", bursts[0].plaintext, bursts[1].plaintext);
  v.reason = buf;
  bool hello = hello_sized(start);
  if (hello && flight_sized) {
    v.outcome = Outcome::flag;
    v.reason = "inner TLS handshake pattern: " + v.reason;
  }
  return v;
}

}  // namespace culvert::lab
