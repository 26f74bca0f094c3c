// The tls and borrow transports' client: TCP to the server, Culvert's own TLS 1.3 client with
// Chromium's ClientHello (tls13/client_stream.h), then the tunnel's stream with the TLS exporter
// as the preamble's binding. tls checks the server's certificate (its pin, or the CAs for the
// name); borrow sends the borrowed site's name, authenticates inside the ClientHello and knows
// the server by its static key (docs/protocol.md).
// Thread model: the client's executor.
#pragma once

#include "link/share_link.h"
#include "tls13/client_stream.h"
#include "transport/dialer.h"

namespace culvert::tls {

class TlsDialer : public TunnelDialer {
 public:
  TlsDialer(const ShareLink& link);
  asio::awaitable<Result<DialedTunnel>> dial(std::chrono::steady_clock::time_point deadline, std::string& why) override;
  std::string describe() const override;

 private:
  std::string host_;
  std::uint16_t port_;
  tls13::ClientConfig config_;
};

}  // namespace culvert::tls
