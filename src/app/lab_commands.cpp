#include "app/lab_commands.h"

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <fstream>
#include <iostream>
#include <sstream>

#include "lab/client_hello.h"
#include "lab/flow.h"

namespace culvert::app {
namespace {

bool read_file(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream s;
  s << in.rdbuf();
  out = s.str();
  return true;
}

bool load_blocklist(const std::string& path, lab::Blocklist& list) {
  if (path.empty()) return true;
  std::string text;
  if (!read_file(path, text)) {
    std::cerr << "culvert: cannot read blocklist " << path << "\n";
    return false;
  }
  list = lab::Blocklist::parse(text);
  return true;
}

}  // namespace

int lab_classify(const std::string& flow_file, const std::string& blocklist_file) {
  std::string text;
  if (!read_file(flow_file, text)) {
    std::cerr << "culvert: cannot read " << flow_file << "\n";
    return 1;
  }
  auto flow = lab::parse_flow(text);
  if (!flow) {
    std::cerr << "culvert: " << flow_file << " is not a flow file (lines of \"C|S <ms> <hex>\")\n";
    return 2;
  }
  lab::ClassifierOptions options;
  if (!load_blocklist(blocklist_file, options.blocked_names)) return 1;
  std::cout << lab::classify(*flow, options).to_json() << "\n";
  return 0;
}

int lab_fingerprint(const std::string& hello_file) {
  std::string bytes;
  if (!read_file(hello_file, bytes)) {
    std::cerr << "culvert: cannot read " << hello_file << "\n";
    return 1;
  }
  auto hello = lab::parse_client_hello(as_bytes(bytes));
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

}  // namespace culvert::app
