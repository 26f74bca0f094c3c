// The active prober: the probes a censor sends to a suspected proxy, and a record of how a server
// reacts to each — the bytes it sends back (decrypted for probes that complete a TLS handshake),
// how the connection ended (FIN, RST, silence) and when, and for TLS probes what the handshake and
// the session tickets look like. Sources: Alice et al., IMC 2020 §3-§4 (replays, replays with
// changed bytes, random probes); Frolov et al., NDSS 2020 §III-§IV (empty connection, HTTP, TLS,
// protocol openers, close thresholds); Aparecium (2025, tickets after the handshake).
// The probe catalogue is in lab/probe_set.h; comparing two reactions is lab/reaction.h.
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
  Bytes payload;                             // raw probes: the first bytes sent; TLS probes: sent inside the session
  bool over_tls = false;                     // complete a TLS handshake (OpenSSL's client) first
  std::vector<std::string> alpn;             // TLS probes: protocols offered ("" list: no ALPN)
  int tls_max_version = 0;                   // TLS probes: e.g. TLS1_2_VERSION; 0 for OpenSSL's default
  std::vector<std::size_t> split;            // send the payload in pieces ending at these offsets...
  std::chrono::milliseconds split_pause{0};  // ...with this pause between them
  bool half_close = false;                   // shutdown(SHUT_WR) after the payload
  std::chrono::milliseconds delay{0};        // wait before connecting (delayed replays)
  std::chrono::milliseconds timeout{0};      // 0: the options' time limit
};

enum class Ending { fin, rst, timeout, connect_failed, tls_failed };
std::string_view to_string(Ending e);

// What a TLS probe learned about the handshake and what followed it.
struct TlsFacts {
  std::string version;             // "TLSv1.3"
  std::string cipher;              // OpenSSL's name
  std::string alpn;                // selected protocol, "" if none
  std::string group;               // key exchange group
  std::string server_hello;        // shape of the ServerHello: session id length, extensions in order
  std::vector<std::size_t> chain;  // DER size of each certificate the server sent
  struct Ticket {
    std::uint32_t lifetime_hint = 0;
    std::size_t size = 0;
  };
  std::vector<Ticket> tickets;
  std::vector<std::string> alerts_received;  // "fatal:handshake_failure", "warning:close_notify"
};

struct Reaction {
  Ending ending = Ending::timeout;
  std::size_t bytes = 0;                 // bytes the server sent back (inside TLS for TLS probes)
  Bytes response;                        // the first 64 KiB of them
  std::chrono::milliseconds elapsed{0};  // from the end of the payload to the end
  std::optional<TlsFacts> tls;           // TLS probes only
  std::string error;                     // why a TLS handshake failed, for the report
};

struct ProbeOptions {
  std::string sni;  // for TLS probes and the ClientHello probes ("" sends none)
  std::chrono::milliseconds timeout{10000};
  std::optional<Bytes> replay;  // a recorded first client payload
  std::chrono::milliseconds replay_delay{2000};
  bool long_waits = false;  // add probes that wait past a web server's 60 s and 75 s timers
};

// Sends one probe to host:port and records the reaction.
Reaction run_probe(const std::string& host, std::uint16_t port, const Probe& probe, const ProbeOptions& options);
// All probes in parallel; results in the order of `probes`.
std::vector<Reaction> run_probes(const std::string& host, std::uint16_t port, const std::vector<Probe>& probes,
                                 const ProbeOptions& options);

}  // namespace culvert::lab
