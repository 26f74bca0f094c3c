// The client's side of the transport seam: one TunnelDialer per server link, made by
// make_dialer() (transport/registry.h) from the link's transport. The tunnel pool asks it for
// byte streams and runs a mux session on each; it does not know how the bytes travel.
// Thread model: the client's executor. Ownership: the pool owns its dialer; a dialed stream
// belongs to the caller.
#pragma once

#include <array>
#include <asio/awaitable.hpp>
#include <chrono>
#include <optional>
#include <string>

#include "core/byte_stream.h"
#include "core/result.h"

namespace culvert {

struct DialedTunnel {
  ByteStreamPtr stream;
  // The channel binding the tunnel's auth preamble is made over (the TLS exporter). Empty when
  // the transport proved the user inside its own handshake (cdn): then no preamble is sent.
  std::optional<std::array<std::uint8_t, 32>> binding;
  // The TCP socket under the tunnel, for per-tunnel tuning (core/congestion.h); -1 if none.
  int socket_fd = -1;
};

class TunnelDialer {
 public:
  virtual ~TunnelDialer() = default;
  // One attempt (the pool retries with back-off). On failure `why` says what went wrong in words
  // for the user; Errc::auth_failed means the server did not accept this link.
  virtual asio::awaitable<Result<DialedTunnel>> dial(std::chrono::steady_clock::time_point deadline,
                                                     std::string& why) = 0;
  // "HOST:PORT" of what is dialed, for messages.
  virtual std::string describe() const = 0;
};

}  // namespace culvert
