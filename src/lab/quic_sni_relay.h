// The censor's QUIC SNI rule on a UDP relay (Zohaib et al., USENIX Security 2025; ../shared/
// CENSOR.md "QUIC SNI blocking"): the GFW decrypts the client's QUIC v1 Initials (the keys come
// from the connection id), reads the SNI and, when it is on its blocklist, drops the flow's
// datagrams both ways for about two minutes. It acts only when the client's source port is at
// least the server's port, and QUIC v2 escaped it when it was measured. The relay forwards
// datagrams between clients and one server, keeps a flow per client address, and applies the
// rule to each flow's first datagrams (the ClientHello put together across up to four of them,
// as a censor that reassembles would). Blocking, single-threaded; for the lab and its tests.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "core/result.h"
#include "lab/blocklist.h"

namespace culvert::lab {

struct QuicSniRelayOptions {
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 0;  // 0: any; told through on_listening
  std::string server_host = "127.0.0.1";
  std::uint16_t server_port = 0;
  Blocklist blocklist;
  std::chrono::seconds block_for{120};
  bool require_source_port_at_least_destination = true;  // the GFW's own condition
  std::chrono::milliseconds run_for{60000};              // then it returns
  std::function<void(std::uint16_t port)> on_listening;
  // One line per decision: "pass sni NAME", "block sni NAME (entry ENTRY)", "exempt ...".
  std::function<void(const std::string& line)> on_verdict;
};

Result<void> run_quic_sni_relay(const QuicSniRelayOptions& options);

}  // namespace culvert::lab
