#include "app/commands.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <openssl/crypto.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "admin/admin_server.h"
#include "admin/qr.h"
#include "admin/users.h"
#include "app/privileges.h"
#include "client/client.h"
#include "config/server_config.h"
#include "core/await.h"
#include "core/file.h"
#include "core/tcp_stream.h"
#include "crypto/crypto.h"
#include "link/share_link.h"
#include "server/server.h"
#include "server/subscription.h"
#include "store/sqlite_user_store.h"
#include "transport/tls/certificate.h"
#include "transport/tls/context.h"

namespace culvert::app {
namespace {

constexpr const char* kFirstUser = "default";

// The first global IPv4 address of this machine, for the default public host.
std::string guess_public_host() {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return "127.0.0.1";
  std::string found;
  for (ifaddrs* i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
    auto* sin = reinterpret_cast<sockaddr_in*>(i->ifa_addr);
    std::uint32_t a = ntohl(sin->sin_addr.s_addr);
    if ((a >> 24) == 127) continue;
    char text[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &sin->sin_addr, text, sizeof text);
    found = text;
    break;
  }
  freeifaddrs(list);
  return found.empty() ? "127.0.0.1" : found;
}

bool is_ip_literal(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

int print_link(const ServerConfig& config, const User& user, bool qr) {
  auto link = admin::share_link(config, user);
  if (!link) {
    std::cerr << "culvert: cannot read "
              << config.path(config.transport == "tls" ? config.certificate : config.static_key) << "\n";
    return 1;
  }
  if (qr) std::cout << render_qr(*link);
  std::cout << *link << std::endl;
  return 0;
}

}  // namespace

bool load_config(const std::string& dir, ServerConfig& config) {
  std::string message;
  auto loaded = load_server_config(dir, message);
  if (!loaded) {
    std::cerr << "culvert: " << message << "\n";
    return false;
  }
  config = std::move(*loaded);
  return true;
}

std::unique_ptr<UserStore> open_store(const ServerConfig& config) {
  std::string message;
  auto store = admin::open_store(config, message);
  if (!store) {
    std::cerr << "culvert: " << message << "\n";
    return nullptr;
  }
  return std::move(*store);
}

bool setup_logging(const std::string& level) {
  auto parsed = spdlog::level::from_str(level);
  if (level != "debug" && level != "info" && level != "warn" && level != "error") return false;
  auto logger = spdlog::stderr_color_mt("culvert");
  spdlog::set_default_logger(logger);
  spdlog::set_level(parsed);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  return true;
}

int server_init(const InitOptions& options) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::exists(options.dir + "/config.toml", ec)) {
    std::cerr << "culvert: " << options.dir << " already holds a server (config.toml exists)\n";
    return 1;
  }
  fs::create_directories(options.dir, ec);
  if (ec) {
    std::cerr << "culvert: cannot create " << options.dir << ": " << ec.message() << "\n";
    return 1;
  }
  fs::permissions(options.dir, fs::perms::owner_all, ec);

  ServerConfig config;
  config.data_dir = options.dir;
  config.listen = options.listen;
  config.public_host = options.public_host.empty() ? guess_public_host() : options.public_host;
  config.sni = options.sni.empty() && !is_ip_literal(config.public_host) ? config.public_host : options.sni;
  config.allow_private = options.allow_private;
  config.transport = options.transport;
  if (options.transport == "borrow") {
    // The borrowed site's name is what every client sends and every observer sees.
    std::string target_host;
    std::uint16_t target_port = 0;
    if (!split_host_port(options.target, target_host, target_port)) {
      std::cerr << "culvert: --transport borrow needs --target HOST:PORT (the site to borrow)\n";
      return 2;
    }
    config.target = options.target;
    if (options.sni.empty()) config.sni = target_host;
    config.certificate_pinned = false;
  }
  if (options.transport == "cdn") {
    // Clients go to the CDN's edge and name the site there; the server only sees the CDN.
    if (options.sni.empty() && (options.public_host.empty() || is_ip_literal(config.public_host))) {
      std::cerr << "culvert: --transport cdn needs --sni NAME (the site's name at the CDN) or --public-host NAME\n";
      return 2;
    }
    if (options.sni.empty()) config.sni = config.public_host;
    if (options.public_host.empty()) config.public_host = config.sni;
    std::string front_host;
    std::uint16_t front_port = 0;
    if (!options.front.empty() && !split_host_port(options.front, front_host, front_port)) {
      std::cerr << "culvert: --front must be HOST:PORT (the CDN edge clients connect to)\n";
      return 2;
    }
    config.cdn.front = options.front.empty() ? config.sni + ":443" : options.front;
    config.cdn.path = "/" + crypto::base64url_encode(crypto::random_bytes(12));
    config.cdn.origin_tls = options.origin_tls;
    config.cdn.upload = options.upload;
    config.certificate_pinned = false;
  } else if (!options.front.empty() || options.origin_tls) {
    std::cerr << "culvert: --front and --origin-tls go with --transport cdn\n";
    return 2;
  }
  config.admin_listen = options.admin_listen;
  if (!options.cover_upstream.empty()) {
    config.cover.mode = CoverConfig::Mode::upstream;
    config.cover.upstream = options.cover_upstream;
    config.cover.upstream_tls = options.cover_upstream_tls;
  } else if (!options.cover_upstream_tls.empty()) {
    std::cerr << "culvert: --cover-upstream-tls goes with --cover-upstream (the same web server's plain port)\n";
    return 2;
  }
  // A CA-issued certificate for a name: an ordinary website's. The link then carries no pin.
  std::string certificate_name = config.sni.empty() ? config.public_host : config.sni;
  bool acme =
      config.transport == "tls" && !options.no_acme && !certificate_name.empty() && !is_ip_literal(certificate_name);
  if (!acme && !options.acme_directory.empty() && config.transport == "tls" && !options.no_acme) {
    std::cerr << "culvert: --acme-directory needs a domain name (--public-host NAME or --sni NAME)\n";
    return 2;
  }
  if (acme) {
    config.acme.directory =
        options.acme_directory.empty() ? std::string(kLetsEncryptDirectory) : options.acme_directory;
    config.acme.email = options.acme_email;
    if (!options.acme_ca_file.empty()) {
      std::error_code abs_ec;
      config.acme.ca_file = fs::absolute(options.acme_ca_file, abs_ec).string();
    }
    config.certificate_pinned = false;
  }
  std::string rendered = render_server_config(config);
  if (!write_private_file(options.dir + "/config.toml", rendered)) {
    std::cerr << "culvert: cannot write " << options.dir << "/config.toml\n";
    return 1;
  }
  // Validate what we wrote exactly as `server run` will read it.
  std::string message;
  if (!load_server_config(options.dir, message)) {
    std::cerr << "culvert: " << message << "\n";
    fs::remove(options.dir + "/config.toml", ec);
    return 2;
  }

  auto cert = tls::generate_self_signed(config.sni.empty() ? config.public_host : config.sni, 825);
  if (!cert) {
    std::cerr << "culvert: cannot generate a certificate\n";
    return 1;
  }
  auto keys = crypto::x25519_generate();
  if (!write_private_file(config.path(config.certificate), cert->certificate_pem) ||
      !write_private_file(config.path(config.key), cert->key_pem) ||
      !write_private_file(config.path(config.static_key), crypto::base64url_encode(keys.private_key) + "\n")) {
    std::cerr << "culvert: cannot write keys into " << options.dir << "\n";
    return 1;
  }
  auto store = open_store(config);
  if (!store) return 1;
  auto user = store->add(kFirstUser);
  if (!user) {
    std::cerr << "culvert: cannot create the first user\n";
    return 1;
  }
  std::cout << "Initialised " << options.dir << " (listen " << config.listen << ", public host " << config.public_host
            << ").\n";
  if (acme) {
    std::cout << "Certificate: the server obtains one for " << certificate_name << " from " << config.acme.directory
              << " when it starts (tls-alpn-01: " << certificate_name
              << " must resolve to this server and its port must be reachable as 443), and renews it; until then it "
                 "serves a temporary self-signed one.\n";
  } else if (config.transport == "cdn") {
    std::cout << "CDN: point the CDN's origin for " << config.sni << " at this server's " << config.listen << " ("
              << (config.cdn.origin_tls
                      ? "HTTPS; the self-signed certificate here is enough for the CDN's \"full\" mode"
                      : "plain HTTP")
              << "). Requests under " << config.cdn.path
              << " are the tunnel; keep that path secret. Clients connect to " << config.cdn.front << ".\n";
  } else if (config.transport == "tls") {
    std::cout << "Certificate: self-signed, pinned in the links. A self-signed certificate on port 443 is itself "
                 "unusual: with a domain name, init with --public-host NAME for a CA certificate; without one, the "
                 "borrow transport (--transport borrow --target SITE:443) is the better choice.\n";
  }
  std::cout << "Share link for user \"" << kFirstUser << "\" (keep it secret; scan or paste it into the client):\n";
  return print_link(config, *user, options.qr);
}

int fleet_command(const std::string& dir, const std::string& action, const std::string& name, const std::string& link,
                  const std::string& host) {
  ServerConfig config;
  if (!load_config(dir, config)) return 2;
  auto store = open_store(config);
  if (!store) return 1;
  if (action == "list") {
    auto fleet = store->fleet();
    if (!fleet) {
      std::cerr << "culvert: cannot read the fleet\n";
      return 1;
    }
    if (fleet->empty()) std::cout << "(no fleet: subscriptions list only the server they come from)\n";
    for (const auto& e : *fleet) {
      auto parsed = parse_share_link(e.link);
      std::cout << e.name << "\t"
                << (parsed ? std::string(parsed->transport_name()) + " " + parsed->host + ":" +
                                 std::to_string(parsed->port)
                           : std::string("(invalid link)"))
                << "\n";
    }
    return 0;
  }
  if (action == "remove") {
    if (!store->fleet_remove(name)) {
      std::cerr << "culvert: no server \"" << name << "\" in the fleet\n";
      return 1;
    }
    std::cout << "removed " << name << "; subscriptions no longer list it\n";
    return 0;
  }
  std::string text = link;
  if (text.empty()) {
    // This server's own link, with a throwaway credential (each user's replaces it).
    User placeholder;
    placeholder.name = "fleet";
    auto own = culvert::share_link(config, placeholder);
    if (!own) {
      std::cerr << "culvert: cannot make this server's link (certificate or static key unreadable)\n";
      return 1;
    }
    text = *own;
  }
  std::string why;
  auto parsed = parse_share_link(text, &why);
  if (!parsed) {
    std::cerr << "culvert: --link is not a share link: " << why << "\n";
    return 2;
  }
  if (!host.empty()) {
    std::string h = host;
    std::uint16_t port = parsed->port;
    if (host.find(':') != std::string::npos && host.front() != '[' && std::count(host.begin(), host.end(), ':') == 1) {
      if (!split_host_port(host, h, port)) {
        std::cerr << "culvert: --host must be HOST or HOST:PORT\n";
        return 2;
      }
    } else if (host.front() == '[') {
      if (!split_host_port(host, h, port)) {
        std::cerr << "culvert: --host must be HOST, HOST:PORT or [IPV6]:PORT\n";
        return 2;
      }
    }
    parsed->host = h;
    parsed->port = port;
  }
  parsed->credential = UserCredential{};
  parsed->label = name;
  if (!store->fleet_put({name, format_share_link(*parsed)})) {
    std::cerr << "culvert: cannot write the fleet\n";
    return 1;
  }
  std::cout << "fleet: " << name << " = " << parsed->transport_name() << " " << parsed->host << ":" << parsed->port
            << "; every user's subscription lists it\n";
  return 0;
}

int server_check(const std::string& dir) {
  ServerConfig config;
  if (!load_config(dir, config)) return 2;
  bool ok = true;
  if (config.transport == "tls") {
    tls::ServerTlsOptions o{config.path(config.certificate), config.path(config.key), config.cover.effective_alpn()};
    if (!tls::make_server_context(o)) {
      std::cerr << "culvert: cannot load certificate " << o.certificate_file << " / key " << o.key_file << "\n";
      ok = false;
    }
  } else if (!crypto::read_x25519_private_key(config.path(config.static_key))) {
    std::cerr << "culvert: cannot read the static key " << config.path(config.static_key) << "\n";
    ok = false;
  }
  if (config.transport == "cdn" && config.cdn.origin_tls) {
    tls::ServerTlsOptions o{config.path(config.certificate), config.path(config.key), {"http/1.1"}};
    if (!tls::make_server_context(o)) {
      std::cerr << "culvert: cannot load certificate " << o.certificate_file << " / key " << o.key_file << "\n";
      ok = false;
    }
  }
  auto store = open_store(config);
  if (!store) ok = false;
  if (!ok) return 1;
  std::cout << "OK: " << dir << "/config.toml (transport " << config.transport << ", listen " << config.listen
            << ", cover " << (config.cover.mode == CoverConfig::Mode::builtin ? "builtin" : "upstream")
            << (config.acme.directory.empty() ? "" : ", certificate from " + config.acme.directory) << ")\n";
  return 0;
}

int server_run(const std::string& dir, const std::string& log_level) {
  ServerConfig config;
  if (!load_config(dir, config)) return 1;
  if (!setup_logging(log_level.empty() ? config.log_level : log_level)) {
    std::cerr << "culvert: unknown log level \"" << log_level << "\"\n";
    return 2;
  }
  auto files = raise_open_file_limit();
  if (files < 4096)
    spdlog::warn("only {} open files allowed: raise the hard limit (LimitNOFILE) for a busy server", files);
  auto store = open_store(config);
  if (!store) return 1;
  asio::io_context io(1);
  Server server(io, config, std::move(store));
  std::string message;
  if (!server.start(message)) {
    std::cerr << "culvert: " << message << "\n";
    return 1;
  }
  std::unique_ptr<admin::AdminServer> admin_api;
  if (!config.admin_listen.empty()) {
    auto token = admin::load_or_create_token(config.path("admin.token"));
    auto admin_store = open_store(config);
    if (!token || !admin_store) {
      std::cerr << "culvert: cannot read or create " << config.path("admin.token") << "\n";
      return 1;
    }
    admin::AdminOptions options{config.admin_listen, *token, [&server] { return server.render_metrics(); }};
    admin_api = std::make_unique<admin::AdminServer>(io, config, std::move(admin_store), options);
    if (auto started = admin_api->start(message); !started) {
      // The admin API is auxiliary: users keep being served without it.
      spdlog::error("admin API not started: {}", message);
      admin_api.reset();
    } else {
      auto e = admin_api->local_endpoint();
      spdlog::info("admin API and /metrics on {}:{} (token in {})", e.address().to_string(), e.port(),
                   config.path("admin.token"));
    }
  }
  if (::geteuid() == 0) {
    if (config.run_as.empty()) {
      spdlog::warn("running as root: set run_as in config.toml to drop privileges after binding");
    } else if (!drop_privileges(config.run_as, config.data_dir, message)) {
      std::cerr << "culvert: " << message << "\n";
      return 1;
    } else {
      spdlog::info("running as user {}", config.run_as);
    }
  }
  // SIGTERM/SIGINT drain (a second one stops at once); SIGHUP re-reads config.toml.
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        asio::signal_set signals(io, SIGINT, SIGTERM, SIGHUP);
        bool draining = false;
        for (;;) {
          auto [ec, signal] = co_await signals.async_wait(use_tuple);
          if (ec) co_return;
          if (signal == SIGHUP) {
            std::string why;
            auto fresh = load_server_config(dir, why);
            if (!fresh) {
              spdlog::error("reload failed, configuration unchanged: {}", why);
              ++server.metrics().reload_failures_total;
              continue;
            }
            auto level = fresh->log_level;
            if (auto applied = server.reload(std::move(*fresh), why); !applied) {
              spdlog::error("reload failed, configuration unchanged: {}", why);
              continue;
            }
            if (log_level.empty()) spdlog::set_level(spdlog::level::from_str(level));
            spdlog::info("configuration reloaded");
            continue;
          }
          if (draining) {
            spdlog::info("signal {} again: stopping now", signal);
            server.stop();
            io.stop();
            co_return;
          }
          draining = true;
          spdlog::info("signal {}: draining", signal);
          if (admin_api) admin_api->stop();
          co_await server.drain(server.config().drain_timeout);
          io.stop();
          co_return;
        }
      },
      asio::detached);
  auto endpoint = server.local_endpoint();
  spdlog::info("culvert {} server listening", CULVERT_VERSION);
  std::cout << "listening on " << endpoint.address().to_string() << ":" << endpoint.port() << std::endl;
  io.run();
  return 0;
}

int client_run(const ClientArgs& args) {
  ClientConfig config;
  std::string message;
  if (!args.config_file.empty()) {
    auto loaded = load_client_config(args.config_file, message);
    if (!loaded) {
      std::cerr << "culvert: " << message << "\n";
      return 2;
    }
    config = std::move(*loaded);
  } else if (!args.link.empty()) {
    std::string why;
    auto link = parse_share_link(args.link, &why);
    if (!link) {
      std::cerr << "culvert: this share link cannot be used: " << why << "\n";
      return 2;
    }
    config.servers.push_back(ServerEntry{"proxy", *link});
  } else if (args.subscription.empty()) {
    std::cerr << "culvert: give a share link, --subscription URL or --config FILE\n";
    return 2;
  }
  if (!args.subscription.empty()) {
    GroupConfig group;
    group.name = "subscription";
    group.subscription = args.subscription;
    // Its servers come first: a link given with it is the fallback's last resort.
    config.groups.insert(config.groups.begin(), group);
    if (!args.link.empty()) config.groups.front().name = "subscription";
  }
  if (!args.config_file.empty() && !args.link.empty()) {
    std::cerr << "culvert: give a share link or --config, not both\n";
    return 2;
  }
  if (!args.listen.empty()) config.listen = args.listen;
  if (!args.log_level.empty()) config.log_level = args.log_level;
  if (!args.padding.empty()) config.padding = args.padding == "on";
  if (!args.profile.empty()) config.profile = args.profile;
  if (!args.dns_listen.empty()) config.dns.listen = args.dns_listen;
  if (args.fake_ip) config.dns.fake_ip = true;
  if (!args.geoip.empty()) config.geoip = args.geoip;
  if (args.max_tunnels) config.max_tunnels = args.max_tunnels;
  if (args.streams_per_tunnel) config.streams_per_tunnel = args.streams_per_tunnel;
  if (auto valid = validate_client_config(config, message); !valid) {
    std::cerr << "culvert: " << message << "\n";
    return 2;
  }
  if (args.check) {
    std::cout << "OK: " << config.servers.size() << " server(s), " << config.groups.size() << " group(s), "
              << config.rules.size() << " rule(s), listen " << config.listen << "\n";
    return 0;
  }
  if (!setup_logging(config.log_level)) {
    std::cerr << "culvert: unknown log level \"" << config.log_level << "\"\n";
    return 2;
  }
  raise_open_file_limit();
  asio::io_context io(1);
  Client client(io, config);
  if (!client.start(message)) {
    std::cerr << "culvert: " << message << "\n";
    return 1;
  }
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](std::error_code, int signal) {
    spdlog::info("signal {}: shutting down", signal);
    client.stop();
    io.stop();
  });
  auto endpoint = client.local_endpoint();
  spdlog::info("culvert {} client: SOCKS5 and HTTP proxy ready", CULVERT_VERSION);
  std::cout << "listening on " << endpoint.address().to_string() << ":" << endpoint.port() << std::endl;
  if (auto dns = client.dns_endpoint())
    std::cout << "dns on " << dns->address().to_string() << ":" << dns->port() << std::endl;
  std::cout << "pac at http://" << endpoint.address().to_string() << ":" << endpoint.port() << "/proxy.pac"
            << std::endl;
  io.run();
  return 0;
}

}  // namespace culvert::app
