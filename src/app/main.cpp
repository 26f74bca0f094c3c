// culvert: one binary, subcommands for the server, its users and the client.
#include <CLI/CLI.hpp>

#include <csignal>
#include <iostream>

#include "app/commands.h"
#include "app/lab_commands.h"
#include "app/user_commands.h"

int main(int argc, char** argv) {
  using namespace culvert::app;
  // OpenSSL writes to sockets with write(2): a peer that went away must be an error, not SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"Culvert: a private, probe-resistant way out to the open internet"};
  app.set_version_flag("--version", std::string("culvert ") + CULVERT_VERSION);
  app.require_subcommand(1);

  auto* server = app.add_subcommand("server", "Run and set up a server");
  server->require_subcommand(1);
  InitOptions init;
  auto* init_cmd =
      server->add_subcommand("init", "Create a data directory with config, keys, certificate and a first user");
  init_cmd->add_option("--dir", init.dir, "Data directory to create")->required();
  init_cmd->add_option("--listen", init.listen, "Address to accept clients on")->capture_default_str();
  init_cmd->add_option("--public-host", init.public_host,
                       "Host name or IP clients connect to (default: this machine's address)");
  init_cmd->add_option("--sni", init.sni, "SNI clients send (default: the public host if it is a name)");
  init_cmd->add_option("--cover-upstream", init.cover_upstream,
                       "Plain-HTTP web server to use as the cover site (HOST:PORT)");
  init_cmd->add_option("--cover-upstream-tls", init.cover_upstream_tls,
                       "HOST:PORT of that web server's own TLS port (same certificate): it answers non-TLS bytes");
  init_cmd->add_flag("--allow-private", init.allow_private, "Let users reach loopback and private addresses");
  init_cmd
      ->add_option("--transport", init.transport,
                   "tls (own certificate), borrow (a real site's identity) or cdn (clients come through a CDN)")
      ->check(CLI::IsMember({"tls", "borrow", "cdn"}))
      ->capture_default_str();
  init_cmd->add_option("--target", init.target, "borrow: HOST:PORT of the site to borrow (e.g. www.example.com:443)");
  init_cmd->add_option("--front", init.front,
                       "cdn: HOST:PORT of the CDN edge clients connect to (default: the --sni name, port 443)");
  init_cmd->add_flag("--origin-tls", init.origin_tls, "cdn: the CDN connects to --listen with TLS, not plain HTTP");
  init_cmd->add_option("--upload", init.upload, "cdn: packet (survives body buffering) or stream")
      ->check(CLI::IsMember({"packet", "stream"}))
      ->capture_default_str();
  bool no_qr = false;
  init_cmd->add_flag("--no-qr", no_qr, "Do not print the QR code");
  init_cmd->add_flag("--no-acme", init.no_acme, "Keep a self-signed certificate even for a domain name");
  init_cmd->add_option("--acme-directory", init.acme_directory,
                       "ACME CA directory URL (default Let's Encrypt's, for a domain name)");
  init_cmd->add_option("--acme-email", init.acme_email, "Contact address for the ACME account");
  init_cmd->add_option("--acme-ca-file", init.acme_ca_file,
                       "Extra CA certificates (PEM) to trust for the ACME directory (tests)");

  init_cmd->add_option("--admin-listen", init.admin_listen, "Admin HTTP API and /metrics address (\"\" turns it off)")
      ->capture_default_str();

  std::string dir, log_level = "", name, link, listen = "127.0.0.1:1080";
  auto* check_cmd = server->add_subcommand("check", "Validate a data directory's configuration without starting");
  check_cmd->add_option("--dir", dir, "Data directory")->required();
  auto* run_cmd = server->add_subcommand("run", "Run the server from a data directory");
  run_cmd->add_option("--dir", dir, "Data directory")->required();
  run_cmd->add_option("--log-level", log_level, "debug, info, warn or error (default: config's log_level)");

  // The fleet: the servers every user's subscription lists.
  auto* fleet = server->add_subcommand("fleet", "The servers users' subscriptions list (shared through PostgreSQL)");
  fleet->require_subcommand(1);
  std::string fleet_name, fleet_link, fleet_host;
  bool fleet_self = false;
  auto* fleet_add = fleet->add_subcommand("add", "Add a server, or replace the one of that name");
  fleet_add->add_option("name", fleet_name, "A name for the server (users see it in their links' labels)")->required();
  fleet_add->add_option("--dir", dir, "Data directory (its config names the store)")->required();
  auto* fleet_link_option = fleet_add->add_option(
      "--link", fleet_link, "Any share link of that server (its credential is replaced per user)");
  fleet_add->add_flag("--self", fleet_self, "This server (--dir), as its configuration says now")
      ->excludes(fleet_link_option);
  fleet_add->add_option("--host", fleet_host,
                        "HOST[:PORT] clients connect to instead of the link's (a server that moved to a new address)");
  auto* fleet_remove = fleet->add_subcommand("remove", "Remove a server from the fleet");
  fleet_remove->add_option("name", fleet_name, "The server's name")->required();
  fleet_remove->add_option("--dir", dir, "Data directory")->required();
  auto* fleet_list = fleet->add_subcommand("list", "List the fleet");
  fleet_list->add_option("--dir", dir, "Data directory")->required();

  auto run_user_command = add_user_commands(app);

  auto* client = app.add_subcommand("client", "Run the local SOCKS5/HTTP proxy (and DNS server)");
  ClientArgs client_args;
  client->add_option("link", client_args.link, "Share link (culvert://...), or use --config");
  client->add_option("--config", client_args.config_file,
                     "Client configuration file (servers, groups, DNS, rules: docs/configuration.md)");
  client->add_option("--listen", client_args.listen, "Local proxy address (default 127.0.0.1:1080)");
  client->add_option("--log-level", client_args.log_level, "debug, info, warn or error");
  client->add_flag("--check", client_args.check, "Validate the link or configuration file and exit");
  client->add_option("--subscription", client_args.subscription,
                     "Subscription URL (https://...): its servers form the group \"subscription\", re-read every 12 h");
  client
      ->add_option("--padding", client_args.padding,
                   "Shape each tunnel's first records (on) or not (off: for comparisons)")
      ->check(CLI::IsMember({"on", "off"}));
  client
      ->add_option("--profile", client_args.profile,
                   "Routing: bypass-cn (default: China and local networks direct), global (local direct), none")
      ->check(CLI::IsMember({"bypass-cn", "global", "none"}));
  client->add_option("--dns", client_args.dns_listen, "Run the DNS server on this address (e.g. 127.0.0.1:5353)");
  client->add_flag("--fake-ip", client_args.fake_ip, "DNS answers proxied names with fake IPs (198.18.0.0/15)");
  client->add_option("--geoip", client_args.geoip, "MaxMind .mmdb country database for GeoIP rules");
  client->add_option("--max-tunnels", client_args.max_tunnels, "Tunnels per server (default 4)");
  client->add_option("--streams-per-tunnel", client_args.streams_per_tunnel,
                     "Streams a tunnel takes before another is opened (default 128)");

  auto* lab = app.add_subcommand("lab", "The censor emulator: classify, relay, fingerprint");
  lab->require_subcommand(1);
  std::string file, blocklist;
  auto* classify_cmd = lab->add_subcommand("classify", "Run the passive rules over a recorded flow file");
  classify_cmd->add_option("flow", file, "Flow file (as written by lab relay --record)")->required();
  classify_cmd->add_option("--blocklist", blocklist, "Blocked names, one per line");
  std::vector<std::string> fingerprint_files;
  auto* fingerprint_cmd = lab->add_subcommand(
      "fingerprint", "Print SNI, JA3 and JA4 of a raw ClientHello, or of a QUIC client's first datagrams");
  fingerprint_cmd
      ->add_option("files", fingerprint_files,
                   "Raw TLS record bytes starting with a ClientHello, or the UDP datagrams a QUIC client sent first, "
                   "in order (one file each)")
      ->required();
  std::string flight_sni = "quic.example.test", flight_dir;
  auto* quic_flight_cmd = lab->add_subcommand(
      "quic-flight", "Write the first datagrams Culvert's QUIC client sends (for lab fingerprint), one file each");
  quic_flight_cmd->add_option("--sni", flight_sni, "Server name in the ClientHello")->capture_default_str();
  quic_flight_cmd->add_option("--out", flight_dir, "Directory for culvert-quic-N.bin")->required();
  std::string handshake_address, handshake_sni;
  std::uint16_t handshake_port = 443;
  int handshake_timeout_ms = 10000;
  auto* quic_handshake_cmd = lab->add_subcommand(
      "quic-handshake",
      "Run a QUIC handshake with Culvert's client (Chromium's Initial) against a server; accepts any certificate");
  quic_handshake_cmd->add_option("address", handshake_address, "Numeric IPv4 or IPv6 address")->required();
  quic_handshake_cmd->add_option("port", handshake_port, "UDP port")->required();
  quic_handshake_cmd->add_option("--sni", handshake_sni, "Server name in the ClientHello");
  quic_handshake_cmd->add_option("--timeout-ms", handshake_timeout_ms, "Give up after")->capture_default_str();
  std::string quic_relay_listen = "127.0.0.1:4433", quic_relay_to, quic_relay_blocklist;
  int quic_relay_block_seconds = 120, quic_relay_seconds = 60;
  bool quic_relay_any_ports = false;
  auto* quic_relay_cmd = lab->add_subcommand(
      "quic-relay", "Relay UDP to a server through the censor's QUIC SNI rule (decrypt Initials, block by SNI)");
  quic_relay_cmd->add_option("--listen", quic_relay_listen, "UDP address:port")->capture_default_str();
  quic_relay_cmd->add_option("--to", quic_relay_to, "Server's UDP address:port")->required();
  quic_relay_cmd->add_option("--blocklist", quic_relay_blocklist, "Blocked names, one per line")->required();
  quic_relay_cmd->add_option("--block-seconds", quic_relay_block_seconds, "How long a flagged flow stays blocked")
      ->capture_default_str();
  quic_relay_cmd->add_flag("--any-ports", quic_relay_any_ports,
                           "Also inspect flows whose source port is below the destination port");
  quic_relay_cmd->add_option("--seconds", quic_relay_seconds, "Stop after")->capture_default_str();
  std::string serve_listen = "127.0.0.1:4433", serve_cert, serve_key;
  int serve_connections = 1, serve_timeout_ms = 30000;
  bool serve_http3 = false;
  auto* quic_serve_cmd = lab->add_subcommand(
      "quic-serve", "Answer QUIC handshakes with Culvert's server side (TLS and ngtcp2), one connection at a time");
  quic_serve_cmd->add_option("--listen", serve_listen, "UDP address:port")->capture_default_str();
  quic_serve_cmd->add_option("--cert", serve_cert, "PEM certificate chain (P-256 key)")->required();
  quic_serve_cmd->add_option("--key", serve_key, "PEM private key")->required();
  quic_serve_cmd->add_option("--connections", serve_connections, "Stop after this many")->capture_default_str();
  quic_serve_cmd->add_option("--timeout-ms", serve_timeout_ms, "Give up after")->capture_default_str();
  quic_serve_cmd->add_flag("--http3", serve_http3, "Answer HTTP/3 requests with the built-in cover site");
  std::string fetch_url, fetch_connect;
  int fetch_timeout_ms = 10000;
  auto* fetch_cmd =
      lab->add_subcommand("fetch", "GET an https:// URL with Culvert's own TLS client (Chromium's hello)");
  fetch_cmd->add_option("url", fetch_url, "https://HOST[:PORT]/PATH")->required();
  fetch_cmd->add_option("--connect", fetch_connect, "HOST:PORT to connect to instead of the URL's");
  fetch_cmd->add_option("--timeout-ms", fetch_timeout_ms, "Give up after this long");
  auto* borrow_hello_cmd =
      lab->add_subcommand("borrow-hello", "Write an authenticated ClientHello record for a borrow link (for probes)");
  borrow_hello_cmd->add_option("link", link, "culvert:// link with tr=borrow")->required();
  borrow_hello_cmd->add_option("out", file, "File to write the raw record to")->required();
  LabRelayArgs relay_args;
  auto* relay_cmd = lab->add_subcommand("relay", "Relay TCP through the censor: classify, report, block");
  relay_cmd->add_option("--listen", relay_args.options.listen, "Address to accept on")->capture_default_str();
  relay_cmd->add_option("--to", relay_args.options.to, "Server to relay to (IP:PORT)")->required();
  relay_cmd->add_option("--action", relay_args.action, "observe, reset or drop")->capture_default_str();
  relay_cmd
      ->add_option("--block-probability", relay_args.options.block_probability,
                   "Chance that a fully-encrypted candidate is blocked")
      ->capture_default_str();
  relay_cmd->add_option("--seed", relay_args.options.seed, "Random seed (0: from the OS)");
  relay_cmd->add_option("--residual-seconds", relay_args.residual_seconds, "Residual blocking after a block")
      ->capture_default_str();
  relay_cmd->add_option("--blocklist", relay_args.blocklist_file, "Blocked SNI/Host names, one per line");
  relay_cmd->add_option("--record", relay_args.options.record_dir, "Write each connection's flow into this directory");
  relay_cmd->add_option("--output", relay_args.output_file, "Append the JSON lines to this file instead of stdout");

  LabProbeArgs probe_args;
  auto* probe_cmd = lab->add_subcommand("probe", "Send the published active probes and record the reactions");
  probe_cmd->add_option("target", probe_args.target, "Server to probe: HOST:PORT or a share link")->required();
  probe_cmd->add_option("--reference", probe_args.reference, "Compare with this server's reactions (HOST:PORT)");
  probe_cmd->add_option("--replay", probe_args.replay_file, "Replay this first payload (raw, or a .flow file)");
  probe_cmd->add_option("--sni", probe_args.sni, "SNI for TLS probes");
  probe_cmd->add_option("--timeout-ms", probe_args.timeout_ms, "How long to wait for each reaction")
      ->capture_default_str();
  probe_cmd->add_flag("--long", probe_args.long_waits, "Also probes that wait past 60 s and 75 s timers");
  probe_cmd->add_option("--jitter-ms", probe_args.jitter_ms, "Closes this far apart still count as the same")
      ->capture_default_str();
  auto* audit_cmd = lab->add_subcommand(
      "audit", "Check, probe by probe, that a server reacts like a real web server (the reference)");
  audit_cmd->add_option("target", probe_args.target, "Server to audit: HOST:PORT or a share link")->required();
  audit_cmd->add_option("--reference", probe_args.reference,
                        "A real web server with the same certificate and content (HOST:PORT)");
  audit_cmd->add_option("--sni", probe_args.sni, "SNI for TLS probes");
  audit_cmd->add_option("--replay", probe_args.replay_file, "Also replay this first payload");
  audit_cmd->add_option("--timeout-ms", probe_args.timeout_ms, "How long to wait for each reaction")
      ->capture_default_str();
  audit_cmd->add_option("--runs", probe_args.runs, "Rounds, each with fresh random probes")->capture_default_str();
  audit_cmd->add_flag("--long", probe_args.long_waits, "Also probes that wait past 60 s and 75 s timers");
  audit_cmd
      ->add_option("--jitter-ms", probe_args.jitter_ms,
                   "Closes this far apart still count as the same (a loaded or sanitizer-slowed server needs more)")
      ->capture_default_str();
  audit_cmd->add_option("--json", probe_args.json_file, "Append every probe's verdict to this file (JSON lines)");
  std::string cover_dir;
  auto* cover_files_cmd =
      lab->add_subcommand("cover-files", "Write the built-in cover site's files (to serve them from a reference)");
  cover_files_cmd->add_option("dir", cover_dir, "Directory to write into")->required();

  LabLinkArgs link_args;
  auto* netem_cmd = lab->add_subcommand("link", "Emulate a long, lossy link between two network namespaces (TUN)");
  netem_cmd->add_option("--ns-a", link_args.options.namespace_a, "First namespace (e.g. the client side)")->required();
  netem_cmd->add_option("--ns-b", link_args.options.namespace_b, "Second namespace (e.g. the server side)")->required();
  netem_cmd->add_option("--device", link_args.options.device, "TUN device name in both")->capture_default_str();
  netem_cmd->add_option("--delay-ms", link_args.delay_ms, "One-way delay, each direction")->capture_default_str();
  netem_cmd->add_option("--rate-mbit", link_args.options.rate_mbit, "Bottleneck rate, each direction (0: none)")
      ->capture_default_str();
  netem_cmd->add_option("--queue-bytes", link_args.options.queue_bytes, "Drop-tail queue at the bottleneck")
      ->capture_default_str();
  netem_cmd->add_option("--loss-a-to-b", link_args.loss_a_to_b, "Loss probability a->b")->capture_default_str();
  netem_cmd->add_option("--loss-b-to-a", link_args.loss_b_to_a, "Loss probability b->a")->capture_default_str();
  netem_cmd->add_option("--seed", link_args.options.seed, "Random seed for loss")->capture_default_str();

  CLI11_PARSE(app, argc, argv);

  if (netem_cmd->parsed()) return lab_link(link_args);

  if (probe_cmd->parsed()) return lab_probe(probe_args);
  if (audit_cmd->parsed()) return lab_audit(probe_args);
  if (cover_files_cmd->parsed()) return lab_cover_files(cover_dir);

  if (classify_cmd->parsed()) return lab_classify(file, blocklist);
  if (fingerprint_cmd->parsed()) return lab_fingerprint(fingerprint_files);
  if (quic_flight_cmd->parsed()) return lab_quic_flight(flight_sni, flight_dir);
  if (quic_relay_cmd->parsed())
    return lab_quic_relay(quic_relay_listen, quic_relay_to, quic_relay_blocklist, quic_relay_block_seconds,
                          quic_relay_any_ports, quic_relay_seconds);
  if (quic_serve_cmd->parsed())
    return lab_quic_serve(serve_listen, serve_cert, serve_key, serve_connections, serve_timeout_ms, serve_http3);
  if (quic_handshake_cmd->parsed())
    return lab_quic_handshake(handshake_address, handshake_port, handshake_sni, handshake_timeout_ms);
  if (fetch_cmd->parsed()) return lab_fetch(fetch_url, fetch_connect, fetch_timeout_ms);
  if (borrow_hello_cmd->parsed()) return lab_borrow_hello(link, file);
  if (relay_cmd->parsed()) return lab_relay(relay_args);

  if (init_cmd->parsed()) {
    init.qr = !no_qr;
    return server_init(init);
  }
  if (run_cmd->parsed()) return server_run(dir, log_level);
  if (check_cmd->parsed()) return server_check(dir);
  if (fleet_add->parsed())
    return fleet_command(dir, "add", fleet_name, fleet_self ? std::string() : fleet_link, fleet_host);
  if (fleet_remove->parsed()) return fleet_command(dir, "remove", fleet_name, "", "");
  if (fleet_list->parsed()) return fleet_command(dir, "list", "", "", "");
  if (int code = run_user_command(); code >= 0) return code;
  if (client->parsed()) return client_run(client_args);
  return 2;
}
