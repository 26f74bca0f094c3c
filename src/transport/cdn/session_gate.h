// The CDN transport's server side: the requests a CDN forwards to the cover site at the secret
// path prefix P, each answered by its session or, when it is not a valid part of one, exactly as
// the cover answers any request for a missing file (cover/exchange.h).
//
//   POST P/S        the handshake: body = Noise message 1 (noise.h), answer = message 2
//   GET  P/S/d/T    the download: data segments from the number ticket T acknowledges on,
//                   streamed for as long as the request lasts; a newer download ends the older one
//   POST P/S/u/K    an upload: a ticket, then whole segments (a CDN may buffer it); answer = an ack
//   POST P/S/s/K    a streamed upload: a ticket, then segments for as long as the request lasts
//
// S is the session id (22 base64url characters, the client's choice, bound into the handshake),
// K a request counter that keeps requests distinct, T a ticket (channel.h, base64url): every
// request after the handshake carries one, and a ticket is good once, so a replayed request is
// not the session's. A handshake whose time is more than two
// minutes off, whose ephemeral key was seen before (a replay), or whose user proof fails creates
// no session. Byte layout in docs/protocol.md ("The CDN transport").
// Thread model: the server's executor. Ownership: the gate owns its sessions' cores; tunnels
// hold their streams.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/steady_timer.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "core/byte_stream.h"
#include "cover/exchange.h"
#include "transport/cdn/channel_stream.h"
#include "transport/cdn/noise.h"

namespace culvert::cdn {

inline constexpr std::size_t kSessionIdLength = 22;
inline constexpr std::uint8_t kHandshakeVersion = 1;

// The first message's payload: version u8 | unix time u64 | auth preamble (41 bytes, tls/auth.h,
// over the handshake hash) | padding length u16 | padding.
Bytes make_hello_payload(std::uint64_t unix_time, ByteSpan preamble, std::size_t padding);
struct HelloPayload {
  std::uint64_t unix_time = 0;
  ByteSpan preamble;
};
Result<HelloPayload> parse_hello_payload(ByteSpan payload);
// The Noise prologue: binds the handshake to its session id.
Bytes handshake_prologue(std::string_view session_id);

struct GateOptions {
  std::chrono::seconds clock_skew{120};
  std::chrono::seconds session_idle{60};  // no request and nothing heard this long: the session ends
  std::size_t max_replay_entries = 200000;
  ChannelLimits limits;
};

class SessionGate {
 public:
  using StartTunnel = std::function<void(ByteStreamPtr)>;
  // Checks the preamble against the handshake hash; returns how to start that user's tunnel, or
  // nothing (not a user, or not admitted now).
  using Authenticate =
      std::function<std::optional<StartTunnel>(ByteSpan preamble, const std::array<std::uint8_t, 32>& binding)>;

  SessionGate(asio::any_io_executor executor, const Key& static_private, std::string prefix, Authenticate authenticate,
              GateOptions options = {});
  ~SessionGate();

  // What the cover site consults for every request.
  cover::Claim claim();
  // Ends every session (their tunnels see the channel fail).
  void stop();
  std::size_t sessions() const { return sessions_.size(); }
  const std::string& prefix() const { return prefix_; }

 private:
  struct Session {
    std::shared_ptr<ChannelCore> core;
    std::uint64_t download_generation = 0;
    bool downloading = false;
    std::chrono::steady_clock::time_point last_request;
  };
  asio::awaitable<cover::Handled> handle(cover::Exchange& exchange);
  asio::awaitable<cover::Handled> handshake(cover::Exchange& exchange, const std::string& id);
  asio::awaitable<cover::Handled> download(cover::Exchange& exchange, std::shared_ptr<Session> session,
                                           std::uint32_t from);
  asio::awaitable<cover::Handled> upload(cover::Exchange& exchange, std::shared_ptr<Session> session);
  bool remember_ephemeral(const Key& ephemeral);
  asio::awaitable<void> expire_sessions();

  asio::any_io_executor executor_;
  Key static_private_;
  std::string prefix_;
  Authenticate authenticate_;
  GateOptions options_;
  std::map<std::string, std::shared_ptr<Session>> sessions_;
  std::map<Key, std::chrono::steady_clock::time_point> seen_ephemerals_;
  asio::steady_timer expiry_timer_;
  bool stopped_ = false;
};

}  // namespace culvert::cdn
