// The active prober: the probes the GFW sends to suspected proxies, and a record of how a server
// reacts to each (bytes back, how the connection ended, and when). Sources: Alice et al., "How
// China Detects and Blocks Shadowsocks", IMC 2020 §3-§4 (replays, replays with changed bytes,
// random probes of clustered lengths); Frolov et al., "Detecting Probe-resistant Proxies", NDSS 2020
// §III-§IV (empty connection, HTTP, TLS, protocol openers, close thresholds). Probes that first
// complete a TLS handshake model a censor with its own TLS stack.
// Blocking I/O with one thread per probe; meant for the CLI and tests, not the data path.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/bytes.h"

namespace culvert::lab {

struct Probe {
  std::string name;
  Bytes payload;
  bool over_tls = false;               // complete a TLS handshake first, then send payload inside it
  std::chrono::milliseconds delay{0};  // wait before connecting (delayed replays)
};

enum class Ending { fin, rst, timeout, connect_failed, tls_failed };
std::string_view to_string(Ending e);

struct Reaction {
  Ending ending = Ending::timeout;
  std::size_t bytes = 0;                 // bytes the server sent back (inside TLS for TLS probes)
  Bytes first_bytes;                     // up to 64 of them
  std::chrono::milliseconds elapsed{0};  // from sending the payload to the end
};

struct ProbeOptions {
  std::string sni;  // for TLS probes and the ClientHello probe ("" sends none)
  std::chrono::milliseconds timeout{10000};
  std::optional<Bytes> replay;  // a recorded first client payload
  std::chrono::milliseconds replay_delay{2000};
};

// The published probe set, plus replays of `options.replay` if given.
std::vector<Probe> standard_probes(const ProbeOptions& options);

// Sends one probe to host:port and records the reaction.
Reaction run_probe(const std::string& host, std::uint16_t port, const Probe& probe, const ProbeOptions& options);
// All probes in parallel; results in the order of `probes`.
std::vector<Reaction> run_probes(const std::string& host, std::uint16_t port, const std::vector<Probe>& probes,
                                 const ProbeOptions& options);

// Whether two reactions are indistinguishable to a prober: same ending, same byte count (when both
// answers are fresh TLS handshakes, only that both answered), and, when the server ended the connection,
// the same time within max(500 ms, 20%). Sets `why` when they differ.
bool same_reaction(const Reaction& a, const Reaction& b, std::string& why);

}  // namespace culvert::lab
