// `culvert lab ...`: the censor emulator on the command line.
#pragma once

#include <string>
#include <vector>

#include "lab/link_emulator.h"
#include "lab/relay.h"

namespace culvert::app {

struct LabRelayArgs {
  lab::RelayOptions options;
  std::string action = "observe";
  std::string blocklist_file;
  std::string output_file;
  int residual_seconds = 180;
};

int lab_classify(const std::string& flow_file, const std::string& blocklist_file);
// One file: a TLS ClientHello (records) or a QUIC datagram; several: a QUIC client's datagrams.
int lab_fingerprint(const std::vector<std::string>& files);
int lab_quic_flight(const std::string& server_name, const std::string& directory);
int lab_quic_handshake(const std::string& address, std::uint16_t port, const std::string& server_name, int timeout_ms);
// Relays UDP to one server, applying the censor's QUIC SNI rule; a line per verdict.
int lab_quic_relay(const std::string& listen, const std::string& to, const std::string& blocklist_file,
                   int block_seconds, bool any_ports, int seconds);
// Answers QUIC handshakes with Culvert's server side, one at a time; a line per connection.
int lab_quic_serve(const std::string& listen, const std::string& cert_file, const std::string& key_file,
                   int connections, int timeout_ms, bool http3_cover);
int lab_relay(LabRelayArgs args);

struct LabProbeArgs {
  std::string target;
  std::string reference;
  std::string replay_file;
  std::string sni;
  std::string json_file;  // audit: every probe's verdict as JSON lines
  int timeout_ms = 10000;
  int jitter_ms = 300;      // closes this far apart still count as the same
  int runs = 1;             // audit: rounds, each with fresh random probes
  bool long_waits = false;  // also the probes that wait past 60 s and 75 s timers
};

// Probes target; with a reference, reports every probe whose reaction differs (exit 1).
int lab_probe(const LabProbeArgs& args);
// Probes a server and a real web server it should be indistinguishable from (the reference: the
// same certificate and content), probe by probe, over `runs` rounds; exit 1 if any probe differs.
int lab_audit(const LabProbeArgs& args);
// Writes the built-in cover site's files into `dir` (with their modification times), so that a
// stock web server can serve the same content as a reference for `lab audit`.
int lab_cover_files(const std::string& dir);

// GET over Culvert's own TLS 1.3 client (Chromium's ClientHello): checks that it interoperates
// with real servers. Prints the handshake summary to stderr and the raw response to stdout.
// `connect` (HOST:PORT) overrides where to connect; the URL's host is the SNI and checked name.
int lab_fetch(const std::string& url, const std::string& connect, int timeout_ms);

// Writes the raw record of a ClientHello authenticated for a borrow link (as the client would send
// it now) to `out_file`: for replay probes and for comparing the server's answer with the target's.
int lab_borrow_hello(const std::string& link, const std::string& out_file);

struct LabLinkArgs {
  lab::LinkOptions options;
  double delay_ms = 0;  // one way, both directions
  double loss_a_to_b = 0, loss_b_to_a = 0;
};
// Runs the link emulator between two namespaces until SIGINT/SIGTERM; prints "ready" once the TUN
// devices exist and counters at the end.
int lab_link(LabLinkArgs args);

}  // namespace culvert::app
