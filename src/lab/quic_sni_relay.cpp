#include "lab/quic_sni_relay.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <memory>
#include <vector>

#include "lab/quic_initial.h"
#include "quic/ngtcp2_support.h"

namespace culvert::lab {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kDatagramsInspected = 4;
constexpr auto kFlowIdle = std::chrono::seconds(60);

struct Flow {
  sockaddr_storage client{};
  socklen_t client_length = 0;
  quic::UdpSocket upstream;  // connected to the server
  std::vector<Bytes> first;  // the datagrams inspected so far
  bool decided = false;
  Clock::time_point blocked_until{};
  Clock::time_point last_active = Clock::now();
};

std::string key_of(const sockaddr_storage& address, socklen_t length) {
  return std::string(reinterpret_cast<const char*>(&address), length);
}

// The censor's look at a flow's first datagrams: "" while it needs more, else the verdict line.
std::string inspect(Flow& flow, const QuicSniRelayOptions& o, std::uint16_t client_port, std::uint16_t destination_port,
                    bool& block) {
  std::vector<ByteSpan> datagrams(flow.first.begin(), flow.first.end());
  auto initial = read_client_initial(datagrams);
  if (!initial) {
    if (flow.first.size() < kDatagramsInspected) return "";
    flow.decided = true;
    return "pass: no QUIC v1 ClientHello in the first datagrams";
  }
  flow.decided = true;
  const std::string& sni = initial->hello.sni;
  if (initial->packets.front().version != kQuicV1) return "exempt sni " + sni + " (not QUIC v1)";
  if (o.require_source_port_at_least_destination && client_port < destination_port)
    return "exempt sni " + sni + " (source port below destination port)";
  std::string entry = o.blocklist.match(sni);
  if (entry.empty()) return "pass sni " + (sni.empty() ? std::string("-") : sni);
  block = true;
  return "block sni " + sni + " (entry " + entry + ")";
}

}  // namespace

Result<void> run_quic_sni_relay(const QuicSniRelayOptions& o) {
  auto listen_address = quic::socket_address(o.listen_host, o.listen_port);
  auto server_address = quic::socket_address(o.server_host, o.server_port);
  if (!listen_address || !server_address) return fail(Errc::bad_config);
  quic::UdpSocket listener;
  listener.fd = ::socket(listen_address->storage.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (listener.fd < 0 ||
      ::bind(listener.fd, reinterpret_cast<const sockaddr*>(&listen_address->storage), listen_address->length) != 0)
    return fail(std::error_code(errno, std::system_category()));
  sockaddr_storage bound{};
  socklen_t bound_length = sizeof bound;
  ::getsockname(listener.fd, reinterpret_cast<sockaddr*>(&bound), &bound_length);
  if (o.on_listening) o.on_listening(quic::port_of(bound));

  std::map<std::string, std::unique_ptr<Flow>> flows;
  Bytes buffer(65536);
  const auto end = Clock::now() + o.run_for;
  while (Clock::now() < end) {
    std::vector<pollfd> fds{{listener.fd, POLLIN, 0}};
    std::vector<Flow*> order;
    for (auto& [key, flow] : flows) {
      fds.push_back({flow->upstream.fd, POLLIN, 0});
      order.push_back(flow.get());
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count();
    int ready = ::poll(fds.data(), fds.size(), static_cast<int>(std::clamp<long long>(left, 0, 1000)));
    if (ready < 0 && errno != EINTR) return fail(std::error_code(errno, std::system_category()));
    const auto now = Clock::now();
    if (ready > 0 && (fds[0].revents & POLLIN)) {
      sockaddr_storage from{};
      socklen_t from_length = sizeof from;
      ssize_t got =
          ::recvfrom(listener.fd, buffer.data(), buffer.size(), 0, reinterpret_cast<sockaddr*>(&from), &from_length);
      if (got > 0) {
        auto& flow = flows[key_of(from, from_length)];
        if (!flow) {
          flow = std::make_unique<Flow>();
          flow->client = from;
          flow->client_length = from_length;
          flow->upstream.fd = ::socket(server_address->storage.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
          if (flow->upstream.fd < 0 ||
              ::connect(flow->upstream.fd, reinterpret_cast<const sockaddr*>(&server_address->storage),
                        server_address->length) != 0)
            return fail(std::error_code(errno, std::system_category()));
        }
        flow->last_active = now;
        bool block = false;
        if (!flow->decided && flow->blocked_until <= now) {
          flow->first.emplace_back(buffer.begin(), buffer.begin() + got);
          // The port the client addressed stands for the server's: the relay is in its path.
          std::string verdict = inspect(*flow, o, quic::port_of(from), quic::port_of(bound), block);
          if (!verdict.empty() && o.on_verdict) o.on_verdict(verdict);
          if (flow->decided) flow->first.clear();
          if (block) flow->blocked_until = now + o.block_for;
        }
        if (flow->blocked_until <= now) ::send(flow->upstream.fd, buffer.data(), static_cast<std::size_t>(got), 0);
      }
    }
    for (std::size_t i = 0; ready > 0 && i < order.size(); ++i) {
      if (!(fds[i + 1].revents & POLLIN)) continue;
      Flow& flow = *order[i];
      ssize_t got = ::recv(flow.upstream.fd, buffer.data(), buffer.size(), 0);
      if (got <= 0 || flow.blocked_until > now) continue;  // a blocked flow's answers are dropped too
      flow.last_active = now;
      ::sendto(listener.fd, buffer.data(), static_cast<std::size_t>(got), 0,
               reinterpret_cast<const sockaddr*>(&flow.client), flow.client_length);
    }
    for (auto it = flows.begin(); it != flows.end();) {
      bool idle = now - it->second->last_active > kFlowIdle && it->second->blocked_until <= now;
      it = idle ? flows.erase(it) : std::next(it);
    }
  }
  return {};
}

}  // namespace culvert::lab
