// The CDN transport's client: HTTPS with Chromium's TLS and HTTP/2 to the CDN's edge, the Noise
// handshake in one POST, then the session carried by a long download and a series of uploads
// (session_gate.h has the request shapes). When a request or the whole connection is cut, the
// carrier reconnects and resumes: the download from the next segment it lacks, the uploads from
// the oldest one not acknowledged, so no byte is lost or repeated. After `resume_limit` without a
// working connection the session fails (the pool then dials a new one).
// Thread model: the client's executor. Ownership: the dialed stream owns the session's core; the
// carrier coroutine holds it until the session ends.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "link/share_link.h"
#include "tls13/client_stream.h"
#include "transport/cdn/noise.h"
#include "transport/dialer.h"

namespace culvert::cdn {

enum class UploadMode {
  packet,  // each upload a POST with a whole body: passes CDNs and proxies that buffer bodies
  stream,  // one long streaming POST: fewer requests, needs a path that streams request bodies
};

struct CdnDialerOptions {
  std::string edge_host;  // what TCP connects to (the CDN's name or address)
  std::uint16_t edge_port = 443;
  std::string authority;  // SNI and :authority (the CDN hostname of the site)
  Key server_key{};       // the server's static X25519 key
  std::string prefix;     // the secret path prefix, "/..." without a trailing slash
  UploadMode mode = UploadMode::packet;
  UserCredential credential;
  std::uint8_t preamble_version = 1;  // mux::kVersion
  std::chrono::seconds resume_limit{30};
  std::size_t max_upload_body = 1 << 20;
  int max_uploads_in_flight = 4;
};

class CdnDialer : public TunnelDialer {
 public:
  CdnDialer(asio::any_io_executor executor, CdnDialerOptions options);
  asio::awaitable<Result<DialedTunnel>> dial(std::chrono::steady_clock::time_point deadline, std::string& why) override;
  std::string describe() const override;

 private:
  asio::any_io_executor executor_;
  CdnDialerOptions options_;
  tls13::ClientConfig tls_;
};

}  // namespace culvert::cdn
