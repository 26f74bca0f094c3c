#include "app/lab_commands.h"

#include <arpa/inet.h>
#include <asio/co_spawn.hpp>
#include <asio/connect.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/signal_set.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include "core/await.h"

#include "admin/users.h"
#include "core/file.h"
#include "core/tcp_stream.h"
#include "cover/pages.h"
#include "lab/client_hello.h"
#include "lab/flow.h"
#include "lab/probe_set.h"
#include "lab/prober.h"
#include "lab/quic_initial.h"
#include "lab/quic_sni_relay.h"
#include "lab/reaction.h"
#include "link/share_link.h"
#include "quic/client_handshake.h"
#include "quic/server_handshake.h"
#include "tls13/borrow_auth.h"
#include "tls13/client_stream.h"
#include "transport/tls/certificate.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <csignal>
#include <filesystem>
#include <iomanip>
#include <thread>

namespace culvert::app {
namespace {

std::string frame_name(std::uint64_t type) {
  switch (type) {
    case 0x00:
      return "PADDING";
    case 0x01:
      return "PING";
    case 0x02:
    case 0x03:
      return "ACK";
    case 0x06:
      return "CRYPTO";
    case 0x1c:
      return "CLOSE";
    default:
      return std::to_string(type);
  }
}

bool load_blocklist(const std::string& path, lab::Blocklist& list) {
  if (path.empty()) return true;
  auto text = read_file(path);
  if (!text) {
    std::cerr << "culvert: cannot read blocklist " << path << "\n";
    return false;
  }
  list = lab::Blocklist::parse(*text);
  return true;
}

}  // namespace

int lab_classify(const std::string& flow_file, const std::string& blocklist_file) {
  auto text = read_file(flow_file);
  if (!text) {
    std::cerr << "culvert: cannot read " << flow_file << "\n";
    return 1;
  }
  auto flow = lab::parse_flow(*text);
  if (!flow) {
    std::cerr << "culvert: " << flow_file << " is not a flow file (lines of \"C|S <ms> <hex>\")\n";
    return 2;
  }
  lab::ClassifierOptions options;
  if (!load_blocklist(blocklist_file, options.blocked_names)) return 1;
  std::cout << lab::classify(*flow, options).to_json() << "\n";
  return 0;
}

int lab_quic_flight(const std::string& server_name, const std::string& directory) {
  auto flight = quic::client_first_flight(server_name);
  if (!flight) {
    std::cerr << "culvert: could not build a first flight (" << flight.error().message() << ")\n";
    return 1;
  }
  std::error_code ec;
  std::filesystem::create_directories(directory, ec);
  for (std::size_t i = 0; i < flight->size(); ++i) {
    auto path = std::filesystem::path(directory) / ("culvert-quic-" + std::to_string(i + 1) + ".bin");
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>((*flight)[i].data()), static_cast<std::streamsize>((*flight)[i].size()));
    if (!out) {
      std::cerr << "culvert: cannot write " << path.string() << "\n";
      return 1;
    }
    std::cout << path.string() << "\n";
  }
  return 0;
}

int lab_quic_handshake(const std::string& address, std::uint16_t port, const std::string& server_name, int timeout_ms) {
  quic::ClientTlsConfig config;
  config.server_name = server_name;
  config.accept_any_certificate = true;  // a lab tool meeting test servers, never a tunnel
  auto report = quic::run_client_handshake(address, port, std::move(config), std::chrono::milliseconds(timeout_ms));
  if (!report) {
    std::cerr << "culvert: QUIC handshake failed (" << report.error().message() << ")\n";
    return 1;
  }
  auto params = lab::parse_transport_parameters(report->peer_transport_parameters);
  std::cout << "alpn " << report->alpn << "\ncipher_suite 0x" << std::hex << report->cipher_suite << "\ngroup 0x"
            << report->group << std::dec << "\ndatagrams_sent " << report->datagrams_sent << "\ndatagrams_received "
            << report->datagrams_received << "\nelapsed_ms " << report->elapsed.count() << "\nserver_parameters";
  if (params)
    for (const auto& p : *params) std::cout << " " << p.id;
  std::cout << "\n";
  return 0;
}

namespace {

// "HOST:PORT" or "[V6]:PORT" into its parts; false if it is neither.
bool split_host_port(const std::string& text, std::string& host, std::uint16_t& port) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos) return false;
  host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  try {
    unsigned long p = std::stoul(text.substr(colon + 1));
    if (p > 65535) return false;
    port = static_cast<std::uint16_t>(p);
  } catch (const std::exception&) {
    return false;
  }
  return true;
}

}  // namespace

int lab_quic_relay(const std::string& listen, const std::string& to, const std::string& blocklist_file,
                   int block_seconds, bool any_ports, int seconds) {
  lab::QuicSniRelayOptions o;
  if (!split_host_port(listen, o.listen_host, o.listen_port) || !split_host_port(to, o.server_host, o.server_port)) {
    std::cerr << "culvert: --listen and --to take ADDRESS:PORT\n";
    return 2;
  }
  auto names = read_file(blocklist_file);
  if (!names) {
    std::cerr << "culvert: cannot read " << blocklist_file << "\n";
    return 1;
  }
  o.blocklist = lab::Blocklist::parse(*names);
  o.block_for = std::chrono::seconds(block_seconds);
  o.require_source_port_at_least_destination = !any_ports;
  o.run_for = std::chrono::seconds(seconds);
  o.on_listening = [](std::uint16_t port) { std::cout << "listening " << port << std::endl; };
  o.on_verdict = [](const std::string& line) { std::cout << line << std::endl; };
  auto ran = lab::run_quic_sni_relay(o);
  if (!ran) {
    std::cerr << "culvert: QUIC relay stopped (" << ran.error().message() << ")\n";
    return 1;
  }
  return 0;
}

int lab_quic_serve(const std::string& listen, const std::string& cert_file, const std::string& key_file,
                   int connections, int timeout_ms, bool http3_cover) {
  quic::ServeOptions options;
  if (!split_host_port(listen, options.host, options.port)) {
    std::cerr << "culvert: --listen takes ADDRESS:PORT\n";
    return 2;
  }
  auto credentials = tls::load_server_credentials(cert_file, key_file);
  if (!credentials) {
    std::cerr << "culvert: cannot load " << cert_file << " and " << key_file << " (" << credentials.error().message()
              << ")\n";
    return 1;
  }
  quic::ServerTlsConfig config;
  config.identity = std::make_shared<const tls13::ServerCredentials>(std::move(*credentials));
  options.connections = connections;
  options.timeout = std::chrono::milliseconds(timeout_ms);
  options.http3_cover = http3_cover;
  if (http3_cover) options.linger = std::chrono::milliseconds(2000);
  options.on_listening = [](std::uint16_t port) { std::cout << "listening " << port << std::endl; };
  options.on_connection = [](const quic::ServedHandshake& r) {
    auto params = lab::parse_transport_parameters(r.peer_transport_parameters);
    std::cout << (r.completed ? "completed" : "refused") << " alert " << int(r.alert) << " alpn "
              << (r.alpn.empty() ? "-" : r.alpn) << " sni " << (r.server_name.empty() ? "-" : r.server_name)
              << " cipher_suite 0x" << std::hex << r.cipher_suite << " group 0x" << r.group << std::dec
              << " datagrams_received " << r.datagrams_received << " datagrams_sent " << r.datagrams_sent
              << " elapsed_ms " << r.elapsed.count() << " http3_requests " << r.http3_requests << " client_parameters ";
    const char* separator = "";
    if (params)
      for (const auto& p : *params) {
        std::cout << separator << p.id;
        separator = ",";
      }
    std::cout << (params && !params->empty() ? "" : "-") << std::endl;
  };
  auto served = quic::serve_handshakes(config, options);
  if (!served) {
    std::cerr << "culvert: QUIC server stopped (" << served.error().message() << ")\n";
    return 1;
  }
  return 0;
}

int lab_fingerprint(const std::vector<std::string>& files) {
  std::vector<std::string> contents;
  for (const auto& name : files) {
    auto bytes = read_file(name);
    if (!bytes) {
      std::cerr << "culvert: cannot read " << name << "\n";
      return 1;
    }
    contents.push_back(std::move(*bytes));
  }
  const std::string& hello_file = files.front();
  const std::string* bytes = &contents.front();
  // A QUIC long header (form and fixed bits set) cannot start a TLS record (0x16).
  if (!bytes->empty() && (static_cast<std::uint8_t>((*bytes)[0]) & 0xc0) == 0xc0) {
    std::vector<ByteSpan> datagrams;
    for (const auto& c : contents) datagrams.push_back(as_bytes(c));
    auto initial = lab::read_client_initial(datagrams);
    if (!initial) {
      std::cerr << "culvert: no complete QUIC ClientHello in these datagrams (" << initial.error().message() << ")\n";
      return 2;
    }
    std::cout << "sni  " << initial->hello.sni << "\nja4  " << lab::ja4(initial->hello) << "\nja4_r "
              << lab::ja4_raw(initial->hello) << "\nquic " << lab::quic_fingerprint(*initial) << "\npackets "
              << initial->packets.size() << " Initial(s), version " << initial->packets.front().version << "\n";
    // The framing, which a censor that decrypts Initials also sees: packet numbers, sizes, frames.
    for (const auto& packet : initial->packets) {
      std::cout << "initial pn=" << packet.packet_number << " size=" << packet.packet_size
                << " dcid=" << packet.destination_id.size() << " scid=" << packet.source_id.size() << " frames=";
      for (std::size_t i = 0; i < packet.frame_types.size(); ++i)
        std::cout << (i ? "," : "") << frame_name(packet.frame_types[i]);
      std::cout << "\n";
    }
    return 0;
  }
  if (files.size() > 1) {
    std::cerr << "culvert: several files are read as QUIC datagrams; " << hello_file << " is not one\n";
    return 2;
  }
  auto hello = lab::parse_client_hello(as_bytes(*bytes));
  if (!hello) {
    std::cerr << "culvert: " << hello_file << " does not start with a TLS ClientHello\n";
    return 2;
  }
  std::cout << "sni  " << hello->sni << "\nja3  " << lab::ja3_hash(*hello) << "  " << lab::ja3_string(*hello)
            << "\nja4  " << lab::ja4(*hello) << "\nja4_r " << lab::ja4_raw(*hello) << "\n";
  return 0;
}

int lab_relay(LabRelayArgs args) {
  auto& o = args.options;
  if (args.action == "observe") {
    o.action = lab::BlockAction::observe;
  } else if (args.action == "reset") {
    o.action = lab::BlockAction::reset;
  } else if (args.action == "drop") {
    o.action = lab::BlockAction::drop;
  } else {
    std::cerr << "culvert: --action must be observe, reset or drop\n";
    return 2;
  }
  if (o.block_probability < 0 || o.block_probability > 1 || args.residual_seconds < 0) {
    std::cerr << "culvert: --block-probability must be in [0, 1] and --residual-seconds >= 0\n";
    return 2;
  }
  o.residual = std::chrono::seconds(args.residual_seconds);
  if (!load_blocklist(args.blocklist_file, o.classifier.blocked_names)) return 1;
  std::FILE* out = nullptr;
  if (!args.output_file.empty()) {
    out = std::fopen(args.output_file.c_str(), "a");
    if (!out) {
      std::cerr << "culvert: cannot write " << args.output_file << "\n";
      return 1;
    }
    o.out = out;
  }
  asio::io_context io(1);
  lab::Relay relay(io, o);
  std::string message;
  if (!relay.start(message)) {
    std::cerr << "culvert: " << message << "\n";
    return 1;
  }
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](std::error_code, int) {
    relay.stop();
    io.stop();
  });
  auto endpoint = relay.local_endpoint();
  std::cout << "listening on " << endpoint.address().to_string() << ":" << endpoint.port() << std::endl;
  io.run();
  if (out) std::fclose(out);
  return 0;
}

namespace {

// HOST:PORT, or a share link (its host, port and SNI: audit a server from the link users hold).
bool split_target(const std::string& text, std::string& host, std::uint16_t& port, std::string* sni = nullptr) {
  if (text.rfind("culvert://", 0) == 0) {
    std::string why;
    auto link = parse_share_link(text, &why);
    if (!link) {
      std::cerr << "culvert: this share link cannot be used: " << why << "\n";
      return false;
    }
    host = link->host;
    port = link->port;
    if (sni && sni->empty()) *sni = link->sni;
    return true;
  }
  if (split_host_port(text, host, port)) return true;
  std::cerr << "culvert: expected HOST:PORT or a share link, got \"" << text << "\"\n";
  return false;
}

using admin::json_string;  // one JSON string escaper for the whole program

struct Comparison {
  int differences = 0;
  std::vector<std::string> lines;  // JSON, one per probe
};

// Prints one table row per probe (with a reference: only rows that differ unless `all_rows`);
// returns the number of probes whose reactions differ.
Comparison print_comparison(const std::vector<lab::Probe>& probes, const std::vector<lab::Reaction>& target,
                            const std::vector<lab::Reaction>* reference, bool all_rows, int run,
                            std::chrono::milliseconds jitter) {
  Comparison c;
  std::cout << std::left << std::setw(30) << "probe" << std::setw(34) << "target";
  if (reference)
    std::cout << std::setw(34) << "reference"
              << "verdict";
  std::cout << "\n";
  for (std::size_t i = 0; i < probes.size(); ++i) {
    std::string why;
    bool same = !reference || lab::same_reaction(probes[i], target[i], (*reference)[i], why, jitter);
    if (!same) ++c.differences;
    if (reference) {
      c.lines.push_back("{\"run\":" + std::to_string(run) + ",\"probe\":" + json_string(probes[i].name) +
                        ",\"target\":" + json_string(lab::describe(target[i])) +
                        ",\"reference\":" + json_string(lab::describe((*reference)[i])) +
                        ",\"same\":" + (same ? "true" : "false") + ",\"why\":" + json_string(why) + "}");
    }
    if (!all_rows && same) continue;
    std::cout << std::setw(30) << probes[i].name << std::setw(34) << lab::describe(target[i]);
    if (reference) std::cout << std::setw(34) << lab::describe((*reference)[i]) << (same ? "same" : "DIFFERS: " + why);
    std::cout << "\n";
  }
  return c;
}

lab::ProbeOptions probe_options(const LabProbeArgs& args, bool& ok) {
  lab::ProbeOptions o;
  o.sni = args.sni;
  o.timeout = std::chrono::milliseconds(args.timeout_ms);
  o.long_waits = args.long_waits;
  ok = true;
  if (!args.replay_file.empty()) {
    auto text = read_file(args.replay_file);
    if (!text) {
      std::cerr << "culvert: cannot read " << args.replay_file << "\n";
      ok = false;
      return o;
    }
    // A flow file (from lab relay --record) replays its first client segment; anything else is raw.
    if (auto flow = lab::parse_flow(*text); flow && !flow->empty()) {
      for (const auto& seg : *flow)
        if (seg.direction == lab::Direction::client_to_server && !seg.bytes.empty()) {
          o.replay = seg.bytes;
          break;
        }
    } else {
      o.replay = Bytes(text->begin(), text->end());
    }
  }
  return o;
}

}  // namespace

int lab_probe(const LabProbeArgs& given) {
  LabProbeArgs args = given;
  std::string host, ref_host;
  std::uint16_t port = 0, ref_port = 0;
  if (!split_target(args.target, host, port, &args.sni)) return 2;
  if (!args.reference.empty() && !split_target(args.reference, ref_host, ref_port)) return 2;
  bool ok = false;
  auto options = probe_options(args, ok);
  if (!ok) return 1;
  auto probes = lab::standard_probes(options);
  std::vector<lab::Reaction> target, reference;
  std::thread ref_thread;
  if (!args.reference.empty())
    ref_thread = std::thread([&] { reference = lab::run_probes(ref_host, ref_port, probes, options); });
  target = lab::run_probes(host, port, probes, options);
  if (ref_thread.joinable()) ref_thread.join();
  auto c = print_comparison(probes, target, args.reference.empty() ? nullptr : &reference, true, 1,
                            std::chrono::milliseconds(args.jitter_ms));
  if (!args.reference.empty()) std::cout << c.differences << " of " << probes.size() << " probes differ\n";
  return c.differences == 0 ? 0 : 1;
}

int lab_audit(const LabProbeArgs& given) {
  LabProbeArgs args = given;
  std::string host, ref_host;
  std::uint16_t port = 0, ref_port = 0;
  if (!split_target(args.target, host, port, &args.sni)) return 2;
  if (args.reference.empty()) {
    std::cerr << "culvert: lab audit needs --reference HOST:PORT, a real web server serving the same certificate "
                 "and content (e.g. a stock nginx with the files of `culvert lab cover-files`; see "
                 "docs/censor-model.md)\n";
    return 2;
  }
  if (!split_target(args.reference, ref_host, ref_port)) return 2;
  bool ok = false;
  auto options = probe_options(args, ok);
  if (!ok) return 1;
  std::ofstream json;
  if (!args.json_file.empty()) json.open(args.json_file, std::ios::app);
  int differing = 0;
  std::size_t total = 0;
  for (int run = 1; run <= std::max(1, args.runs); ++run) {
    // Fresh random probes every round; the two servers get the same ones at the same time.
    auto probes = lab::standard_probes(options);
    std::vector<lab::Reaction> target, reference;
    std::thread ref_thread([&] { reference = lab::run_probes(ref_host, ref_port, probes, options); });
    target = lab::run_probes(host, port, probes, options);
    ref_thread.join();
    std::cout << "Round " << run << ": " << args.target << " against " << args.reference << " (" << probes.size()
              << " probes; rows only where they differ)\n";
    auto c = print_comparison(probes, target, &reference, false, run, std::chrono::milliseconds(args.jitter_ms));
    for (const auto& line : c.lines) json << line << "\n";
    differing += c.differences;
    total += probes.size();
  }
  std::cout << (differing == 0 ? "PASS" : "FAIL") << ": " << total - static_cast<std::size_t>(differing) << " of "
            << total << " probes indistinguishable\n";
  return differing == 0 ? 0 : 1;
}

int lab_cover_files(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  for (const auto& page : cover_files()) {
    fs::path path = fs::path(dir) / std::string(page.path.substr(1));
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << page.body;
    out.close();
    if (!out) {
      std::cerr << "culvert: cannot write " << path << "\n";
      return 1;
    }
    timespec times[2] = {{cover_modified_time(), 0}, {cover_modified_time(), 0}};
    ::utimensat(AT_FDCWD, path.c_str(), times, 0);
  }
  std::cout << "wrote " << cover_files().size() << " files to " << dir << "\n";
  return 0;
}

namespace {
lab::LinkEmulator* running_link = nullptr;
void stop_link(int) {
  if (running_link) running_link->stop();
}
}  // namespace

int lab_link(LabLinkArgs args) {
  auto& o = args.options;
  if (args.delay_ms < 0 || args.loss_a_to_b < 0 || args.loss_a_to_b > 1 || args.loss_b_to_a < 0 ||
      args.loss_b_to_a > 1 || o.rate_mbit < 0) {
    std::cerr << "culvert: delays and rates must be >= 0, losses in [0, 1]\n";
    return 2;
  }
  auto delay = std::chrono::microseconds(static_cast<long>(args.delay_ms * 1000));
  o.a_to_b = {delay, args.loss_a_to_b};
  o.b_to_a = {delay, args.loss_b_to_a};
  std::string message;
  auto link = lab::LinkEmulator::create(o, message);
  if (!link) {
    std::cerr << "culvert: " << message << "\n";
    return 1;
  }
  running_link = link->get();
  std::signal(SIGINT, stop_link);
  std::signal(SIGTERM, stop_link);
  // SIGUSR1 cuts the link (a black hole: no packet, no RST), SIGUSR2 restores it.
  std::signal(SIGUSR1, [](int) {
    if (running_link) running_link->set_cut(true);
  });
  std::signal(SIGUSR2, [](int) {
    if (running_link) running_link->set_cut(false);
  });
  std::cout << "ready: " << o.device << " in " << o.namespace_a << " and " << o.namespace_b << std::endl;
  (*link)->run();
  const auto& c = (*link)->counters();
  std::cout << "a->b forwarded " << c.forwarded[0] << " lost " << c.lost[0] << " queue-dropped " << c.queue_drops[0]
            << "\nb->a forwarded " << c.forwarded[1] << " lost " << c.lost[1] << " queue-dropped " << c.queue_drops[1]
            << "\ncut a->b " << c.cut[0] << " b->a " << c.cut[1] << std::endl;
  running_link = nullptr;
  return 0;
}

int lab_fetch(const std::string& url, const std::string& connect, int timeout_ms) {
  constexpr std::string_view kScheme = "https://";
  if (url.rfind(kScheme, 0) != 0) {
    std::cerr << "error: the URL must start with https://\n";
    return 2;
  }
  std::string rest = url.substr(kScheme.size());
  std::size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  std::string path = slash == std::string::npos ? "/" : rest.substr(slash);
  std::string host, connect_host;
  std::uint16_t port = 443, connect_port = 0;
  if (authority.find(':') == std::string::npos || (authority.front() == '[' && authority.back() == ']')) {
    host = authority;
  } else if (!split_host_port(authority, host, port)) {
    std::cerr << "error: cannot parse " << authority << "\n";
    return 2;
  }
  if (!host.empty() && host.front() == '[') host = host.substr(1, host.size() - 2);
  connect_host = host;
  connect_port = port;
  if (!connect.empty() && !split_host_port(connect, connect_host, connect_port)) {
    std::cerr << "error: --connect wants HOST:PORT\n";
    return 2;
  }
  auto verifier = tls13::CertificateVerifier::create({host, std::nullopt});
  if (!verifier) {
    std::cerr << "error: cannot load the CA store\n";
    return 1;
  }
  tls13::ClientConfig config;
  unsigned char ip[16];
  bool literal = inet_pton(AF_INET, host.c_str(), ip) == 1 || inet_pton(AF_INET6, host.c_str(), ip) == 1;
  if (!literal) config.server_name = host;  // browsers send no SNI for addresses
  config.verifier = *verifier;

  asio::io_context io;
  int status = 1;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        asio::ip::tcp::resolver resolver(io);
        auto [rec, results] = co_await resolver.async_resolve(connect_host, std::to_string(connect_port), use_tuple);
        if (rec) {
          std::cerr << "error: cannot resolve " << connect_host << "\n";
          co_return;
        }
        asio::ip::tcp::socket socket(io);
        auto [cec, endpoint] = co_await asio::async_connect(socket, results, use_tuple);
        if (cec) {
          std::cerr << "error: connect: " << cec.message() << "\n";
          co_return;
        }
        tls13::ClientStream tls(std::move(socket), config);
        if (auto ec = co_await tls.handshake()) {
          std::cerr << "error: TLS handshake: " << ec.message() << "\n";
          co_return;
        }
        const auto& s = tls.summary();
        std::cerr << "tls13 suite=0x" << std::hex << s.cipher_suite << " group=0x" << s.group << std::dec
                  << " alpn=" << (s.alpn.empty() ? "-" : s.alpn) << " hello_retry=" << (s.hello_retry ? "yes" : "no")
                  << " compressed_certificate=" << (s.compressed_certificate ? "yes" : "no") << "\n";
        if (s.alpn == "h2") {
          std::cerr << "error: the server chose HTTP/2, which this tool does not speak\n";
          co_return;
        }
        std::string request = "GET " + path + " HTTP/1.1\r\nHost: " + authority + "\r\nConnection: close\r\n\r\n";
        if (co_await tls.write_all(asio::buffer(request))) co_return;
        std::vector<char> buf(16384);
        for (;;) {
          auto [ec, n] = co_await tls.read_some(asio::buffer(buf));
          std::cout.write(buf.data(), static_cast<std::streamsize>(n));
          if (ec == asio::error::eof) {
            status = 0;
            break;
          }
          if (ec) {
            std::cerr << "error: " << ec.message() << "\n";
            break;
          }
        }
        std::cerr << "tickets=";
        for (std::size_t i = 0; i < tls.ticket_records().size(); ++i)
          std::cerr << (i ? "," : "") << tls.ticket_records()[i];
        std::cerr << "\n";
      },
      asio::detached);
  io.run_for(std::chrono::milliseconds(timeout_ms));
  std::cout.flush();
  return status;
}

int lab_borrow_hello(const std::string& text, const std::string& out_file) {
  auto link = parse_share_link(text);
  if (!link || !std::holds_alternative<BorrowLink>(link->transport)) {
    std::cerr << "error: a culvert:// link with tr=borrow is needed\n";
    return 2;
  }
  tls13::ClientHelloSpec spec;
  spec.server_name = link->sni;
  std::vector<tls13::KeyShare> shares;
  for (std::uint16_t g : {tls13::group::kX25519MlKem768, tls13::group::kX25519}) {
    shares.push_back(tls13::KeyShare::generate(g).value());
    spec.key_shares.push_back({g, shares.back().public_bytes()});
  }
  auto randomness = tls13::HelloRandomness::draw();
  randomness.session_id.fill(0);
  Bytes hello = tls13::build_client_hello(spec, randomness);
  auto shared = shares[1].agree(*link->server_key());
  if (!shared) return 1;
  auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
  tls13::seal_borrow_session_id(hello, *shared, link->credential.key_id, link->credential.secret,
                                static_cast<std::uint32_t>(now.count()));
  Bytes record = tls13::client_hello_record(hello);
  std::ofstream out(out_file, std::ios::binary);
  out.write(reinterpret_cast<const char*>(record.data()), static_cast<std::streamsize>(record.size()));
  return out ? 0 : 1;
}

}  // namespace culvert::app
