// The tls transport's acceptor: every connection is met the way a stock nginx meets it (cover/),
// and only a client that proves a user's key inside the TLS session it has just completed leaves
// that path for a tunnel. Owns the OpenSSL context (nginx's settings, transport/tls/context.h),
// its reloads when the certificate files change, and the ACME manager that renews them.
// Thread model and ownership: as TransportAcceptor.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "acme/manager.h"
#include "core/result.h"
#include "server/acceptors/acceptor.h"
#include "transport/tls/context.h"

namespace culvert {

class TlsAcceptor : public TransportAcceptor {
 public:
  using TransportAcceptor::TransportAcceptor;
  Result<void> start(std::string& message) override;
  Result<void> reload(std::string& message) override;
  asio::awaitable<void> handle(asio::ip::tcp::socket socket) override;
  void tick() override;
  void stop() override;

 private:
  acme::ManagerOptions acme_options() const;
  Result<void> load_certificate(std::string& message);
  void reload_certificate_if_changed();  // renewed by an ACME client: picked up within seconds
  void split_upstreams();                // cover.upstream and cover.upstream_tls into host and port
  asio::awaitable<Result<asio::ip::tcp::socket>> connect_upstream(const std::string& host, std::uint16_t port);

  tls::ServerContext tls_;
  std::vector<tls::ServerContext> retired_tls_;
  std::int64_t certificate_loaded_ = 0;  // newest mtime (ns) of the certificate and key in use
  std::unique_ptr<acme::Manager> acme_;
  std::string cover_host_;  // cover.upstream (plain HTTP)
  std::uint16_t cover_port_ = 0;
  std::string cover_tls_host_;  // cover.upstream_tls (the same server's TLS port), or ""
  std::uint16_t cover_tls_port_ = 0;
};

// The newest modification time (ns) of a file, 0 if it cannot be read.
std::int64_t file_modified_at(const std::string& path);

}  // namespace culvert
