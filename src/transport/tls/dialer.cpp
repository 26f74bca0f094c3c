#include "transport/tls/dialer.h"

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>

#include "core/await.h"
#include "cover/h2.h"
#include "transport/tcp_connect.h"
#include "transport/tls/auth.h"
#include "transport/tls/cover_answer_check.h"
#include "transport/tls/drop_prefix_stream.h"

namespace culvert::tls {

TlsDialer::TlsDialer(const ShareLink& link) : host_(link.host), port_(link.port) {
  config_.server_name = link.sni;
  if (const auto* borrow = std::get_if<BorrowLink>(&link.transport)) {
    // The borrowed site's name goes in the SNI; the server proves itself through the key schedule.
    config_.borrow = tls13::BorrowCredentials{borrow->server_key, link.credential.key_id, link.credential.secret};
  } else {
    const auto* tls = std::get_if<TlsLink>(&link.transport);
    auto verifier = tls13::CertificateVerifier::create(
        {link.sni.empty() ? link.host : link.sni, tls ? tls->pin : std::optional<PublicKey>{}});
    if (verifier) config_.verifier = std::move(*verifier);
  }
}

std::string TlsDialer::describe() const {
  return (host_.find(':') != std::string::npos ? "[" + host_ + "]" : host_) + ":" + std::to_string(port_);
}

asio::awaitable<Result<DialedTunnel>> TlsDialer::dial(std::chrono::steady_clock::time_point deadline,
                                                      std::string& why) {
  using namespace asio::experimental::awaitable_operators;
  if (!config_.verifier && !config_.borrow) {
    why = "cannot load the system's CA certificates";
    co_return fail(Errc::tls_failed);
  }
  auto socket = co_await connect_to_server(host_, port_, deadline, why);
  if (!socket) co_return fail(socket.error());
  auto stream = std::make_unique<tls13::ClientStream>(std::move(*socket), config_);
  int fd = stream->socket().native_handle();
  asio::steady_timer timer(co_await asio::this_coro::executor, deadline);
  auto hs = co_await (stream->handshake() || timer.async_wait(use_tuple));
  if (hs.index() == 1) {
    why = "the TLS handshake timed out";
    co_return fail(Errc::timed_out);
  }
  if (auto ec = std::get<0>(hs)) {
    if (ec == Errc::pin_mismatch) {
      why = "its certificate is not the one pinned in the link (a different server, or an interception)";
      co_return fail(ec);
    }
    if (ec == Errc::untrusted_certificate) {
      why = "its certificate is not trusted: " + config_.verifier->last_failure() +
            " (a link without a pin checks the CA chain and the name)";
      co_return fail(ec);
    }
    if (config_.borrow) {
      // The borrowed site itself answered: the server passed this client on as a stranger.
      why =
          "the handshake was answered by the borrowed site itself: the server did not accept this link "
          "(revoked, expired, over quota, or a wrong key)";
      co_return fail(Errc::auth_failed);
    }
    why = "the TLS handshake failed (" + ec.message() + ")";
    co_return fail(Errc::tls_failed);
  }
  auto exporter = stream->export_key(kExporterLabel);
  if (!exporter) {
    why = "the TLS session has no exporter";
    co_return fail(Errc::tls_failed);
  }
  bool h2_cover = !config_.borrow && stream->summary().alpn == "h2";
  ByteStreamPtr carrier = std::move(stream);
  // The tls transport's server speaks as nginx with HTTP/2 would: its tunnels start with the
  // cover's SETTINGS and WINDOW_UPDATE (cover/h2.h), which are not for the mux.
  if (h2_cover) {
    auto preface = cover::h2_server_preface();
    carrier = std::make_unique<DropPrefixStream>(std::move(carrier), Bytes(preface.begin(), preface.end()));
  }
  // A server that does not accept the link answers as its cover site: say so (auth_failed).
  if (!config_.borrow) carrier = std::make_unique<CoverAnswerCheck>(std::move(carrier));
  DialedTunnel dialed;
  dialed.stream = std::move(carrier);
  dialed.binding = *exporter;
  dialed.socket_fd = fd;
  co_return dialed;
}

}  // namespace culvert::tls
