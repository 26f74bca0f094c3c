#include "transport/cdn/dialer.h"

#include <spdlog/spdlog.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>

#include "core/await.h"
#include "crypto/crypto.h"
#include "transport/cdn/channel_stream.h"
#include "transport/cdn/h2_client.h"
#include "transport/cdn/session_gate.h"
#include "transport/tcp_connect.h"
#include "transport/tls/auth.h"

namespace culvert::cdn {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxHandshakeAnswer = 8192;
constexpr std::size_t kClientAckThreshold = 1 << 20;
constexpr std::chrono::milliseconds kClientAckDelay{100};
constexpr std::size_t kStreamQueueLimit = 256 * 1024;

std::string new_session_id() { return crypto::base64url_encode(crypto::random_bytes(16)); }

// TLS (Chromium's hello, the edge's certificate checked against the system CAs) and HTTP/2.
asio::awaitable<Result<std::shared_ptr<H2Client>>> connect_edge(const CdnDialerOptions& options,
                                                                const tls13::ClientConfig& tls,
                                                                Clock::time_point deadline, std::string& why) {
  using namespace asio::experimental::awaitable_operators;
  auto executor = co_await asio::this_coro::executor;
  auto socket = co_await connect_to_server(options.edge_host, options.edge_port, deadline, why);
  if (!socket) co_return fail(socket.error());
  auto stream = std::make_unique<tls13::ClientStream>(std::move(*socket), tls);
  asio::steady_timer timer(executor, deadline);
  auto hs = co_await (stream->handshake() || timer.async_wait(use_tuple));
  if (hs.index() == 1) {
    why = "the TLS handshake with the CDN timed out";
    co_return fail(Errc::timed_out);
  }
  if (auto ec = std::get<0>(hs)) {
    if (ec == Errc::untrusted_certificate) {
      why = "the CDN's certificate is not trusted: " + tls.verifier->last_failure();
    } else {
      why = "the TLS handshake with the CDN failed (" + ec.message() + ")";
    }
    co_return fail(ec == Errc::untrusted_certificate ? ec : make_error_code(Errc::tls_failed));
  }
  if (stream->summary().alpn != "h2") {
    why = "the CDN does not offer HTTP/2 on " + options.authority;
    co_return fail(Errc::unsupported);
  }
  auto client = std::make_shared<H2Client>(executor, std::move(stream));
  asio::co_spawn(
      executor, [client]() -> asio::awaitable<void> { co_await client->run(); }, asio::detached);
  co_return client;
}

// Reads a whole response body of at most `limit` bytes.
asio::awaitable<Result<Bytes>> read_whole(H2Request& request, std::size_t limit) {
  Bytes body;
  std::uint8_t chunk[4096];
  for (;;) {
    auto [ec, n] = co_await request.read_some(asio::buffer(chunk));
    if (ec == asio::error::eof) co_return body;
    if (ec) co_return fail(ec);
    body.insert(body.end(), chunk, chunk + n);
    if (body.size() > limit) co_return fail(Errc::too_large);
  }
}

// A request still open when its coroutine ends (cut short, or cancelled with the connection's
// other loop) is reset, so its data stops coming and its buffer goes.
struct CancelOnExit {
  std::shared_ptr<H2Request> request;
  ~CancelOnExit() {
    if (request && !request->done()) request->cancel();
  }
};

// Carries one session over HTTP/2 connections to the edge, one after another.
class Carrier : public std::enable_shared_from_this<Carrier> {
 public:
  Carrier(CdnDialerOptions options, tls13::ClientConfig tls, std::string id, std::shared_ptr<ChannelCore> core,
          std::shared_ptr<H2Client> connection)
      : options_(std::move(options)),
        tls_(std::move(tls)),
        id_(std::move(id)),
        core_(std::move(core)),
        connection_(std::move(connection)) {}

  asio::awaitable<void> run() {
    using namespace asio::experimental::awaitable_operators;
    auto self = shared_from_this();
    auto executor = co_await asio::this_coro::executor;
    asio::steady_timer pause(executor);
    last_progress_ = Clock::now();
    while (!core_->closed) {
      if (!connection_ || !connection_->accepting()) {
        if (Clock::now() - last_progress_ > options_.resume_limit) {
          spdlog::info("CDN session lost: no working connection to {} for {} s", options_.edge_host,
                       options_.resume_limit.count());
          core_->fail(make_error_code(Errc::timed_out));
          break;
        }
        std::string why;
        auto connected = co_await connect_edge(options_, tls_, Clock::now() + std::chrono::seconds(10), why);
        if (!connected) {
          spdlog::debug("CDN reconnect failed: {}", why);
          pause.expires_after(std::chrono::milliseconds(500));
          co_await pause.async_wait(use_tuple);
          continue;
        }
        connection_ = *connected;
      }
      auto connection = connection_;
      co_await (download(connection) || upload(connection));
      if (core_->closed) break;
      if (connection->accepting()) {
        // A request failed on a live connection: try again shortly on the same one.
        pause.expires_after(std::chrono::milliseconds(100));
        co_await pause.async_wait(use_tuple);
      }
    }
    // The session is over: hand its last segments (the FIN or ABORT) over once, briefly.
    if (connection_ && connection_->accepting()) {
      std::uint32_t first = std::max(cursor_, core_->channel.oldest_kept());
      Bytes body = take_segments(options_.max_upload_body, true);
      if (!body.empty()) {
        ++in_flight_;
        pause.expires_after(std::chrono::seconds(3));
        co_await (post(self, connection_, std::move(body), first) || pause.async_wait(use_tuple));
      }
      connection_->close();
    }
  }

 private:
  std::string path(char kind, const std::string& last) const {
    return options_.prefix + "/" + id_ + "/" + kind + "/" + last;
  }

  asio::awaitable<void> download(std::shared_ptr<H2Client> connection) {
    while (!core_->closed && connection->accepting()) {
      auto request = connection->submit(
          chromium_fetch_headers("GET", options_.authority,
                                 path('d', crypto::base64url_encode(core_->channel.ack_segment())), std::nullopt),
          {}, false);
      CancelOnExit guard{request};
      auto status = co_await request->status();
      if (!status) co_return;
      if (*status != 200) {
        // The server no longer knows the session (restarted, or it idled out): it is over.
        core_->fail(make_error_code(Errc::tunnel_closed));
        co_return;
      }
      last_progress_ = Clock::now();
      SegmentParser parser;
      std::uint8_t chunk[16384];
      for (;;) {
        auto [ec, n] = co_await request->read_some(asio::buffer(chunk));
        if (ec) break;  // the end, or a cut: ask again from the next segment
        if (!core_->receive_bytes(parser, ByteSpan(chunk, n))) {
          core_->fail(make_error_code(Errc::protocol_violation));
          request->cancel();
          co_return;
        }
        last_progress_ = Clock::now();
      }
    }
  }

  asio::awaitable<void> upload(std::shared_ptr<H2Client> connection) {
    cursor_ = core_->channel.oldest_kept();  // everything not acknowledged goes again
    if (options_.mode == UploadMode::stream) {
      co_await upload_stream(connection);
    } else {
      co_await upload_packets(connection);
    }
  }

  // Whole segments from the cursor, up to `limit` bytes. `ticketed`: the body of a new request,
  // which starts with a ticket (an acknowledgement too) and is empty when there is nothing to
  // send and no acknowledgement owed; else an acknowledgement is added when one is owed.
  Bytes take_segments(std::size_t limit, bool ticketed) {
    Bytes body;
    cursor_ = std::max(cursor_, core_->channel.oldest_kept());
    bool data = cursor_ < core_->channel.next_number();
    bool owed = core_->ack_due(kClientAckThreshold, kClientAckDelay);
    if (ticketed ? (data || owed) : (owed && core_->channel.unacknowledged_received() > 0)) {
      auto ticket = core_->channel.ack_segment();
      body.insert(body.end(), ticket.begin(), ticket.end());
    }
    if (ticketed && body.empty()) return body;
    while (cursor_ < core_->channel.next_number() && body.size() < limit) {
      auto s = core_->channel.segment(cursor_++);
      body.insert(body.end(), s.begin(), s.end());
    }
    return body;
  }

  asio::awaitable<void> upload_packets(std::shared_ptr<H2Client> connection) {
    auto executor = co_await asio::this_coro::executor;
    while (connection->accepting() && !core_->closed) {
      if (in_flight_ < options_.max_uploads_in_flight) {
        std::uint32_t first = std::max(cursor_, core_->channel.oldest_kept());
        Bytes body = take_segments(options_.max_upload_body, true);
        if (!body.empty()) {
          ++in_flight_;
          asio::co_spawn(executor, post(shared_from_this(), connection, std::move(body), first), asio::detached);
          continue;
        }
      }
      if (core_->channel.unacknowledged_received() > 0) {
        co_await core_->outgoing.wait_for(kClientAckDelay);
      } else {
        co_await core_->outgoing.wait();
      }
    }
  }

  static asio::awaitable<void> post(std::shared_ptr<Carrier> self, std::shared_ptr<H2Client> connection, Bytes body,
                                    std::uint32_t first) {
    std::size_t size = body.size();
    auto request = connection->submit(chromium_fetch_headers("POST", self->options_.authority,
                                                             self->path('u', std::to_string(self->requests_++)), size),
                                      std::move(body), false);
    auto status = co_await request->status();
    bool ok = status && *status == 200;
    if (ok) {
      auto answer = co_await read_whole(*request, 4096);
      SegmentParser parser;
      ok = answer && self->core_->receive_bytes(parser, *answer).has_value();
      if (ok) self->last_progress_ = Clock::now();
    }
    if (status && *status != 200) self->core_->fail(make_error_code(Errc::tunnel_closed));
    if (!ok) self->cursor_ = std::min(self->cursor_, first);  // send those segments again
    --self->in_flight_;
    self->core_->outgoing.notify();
  }

  asio::awaitable<void> upload_stream(std::shared_ptr<H2Client> connection) {
    auto request = connection->submit(
        chromium_fetch_headers("POST", options_.authority, path('s', std::to_string(requests_++)), std::nullopt), {},
        true);
    CancelOnExit guard{request};
    auto ticket = core_->channel.ack_segment();
    request->write(ticket);
    while (connection->accepting() && !request->done() && !core_->closed) {
      if (request->queued() < kStreamQueueLimit) {
        Bytes more = take_segments(kStreamQueueLimit, false);
        if (!more.empty()) {
          request->write(more);
          continue;
        }
      }
      // Wait for new segments, or for the queue to drain.
      co_await core_->outgoing.wait_for(request->queued() >= kStreamQueueLimit ? std::chrono::milliseconds(5)
                                                                               : kClientAckDelay);
    }
  }

  CdnDialerOptions options_;
  tls13::ClientConfig tls_;
  std::string id_;
  std::shared_ptr<ChannelCore> core_;
  std::shared_ptr<H2Client> connection_;
  std::uint32_t cursor_ = 0;
  int in_flight_ = 0;
  std::uint64_t requests_ = 0;
  Clock::time_point last_progress_;
};

}  // namespace

CdnDialer::CdnDialer(asio::any_io_executor executor, CdnDialerOptions options)
    : executor_(std::move(executor)), options_(std::move(options)) {
  tls_.server_name = options_.authority;
  auto verifier = tls13::CertificateVerifier::create({options_.authority, std::nullopt});
  if (verifier) tls_.verifier = std::move(*verifier);
}

std::string CdnDialer::describe() const {
  return options_.authority + " via " + options_.edge_host + ":" + std::to_string(options_.edge_port);
}

asio::awaitable<Result<DialedTunnel>> CdnDialer::dial(Clock::time_point deadline, std::string& why) {
  using namespace asio::experimental::awaitable_operators;
  if (!tls_.verifier) {
    why = "cannot load the system's CA certificates";
    co_return fail(Errc::tls_failed);
  }
  auto connection = co_await connect_edge(options_, tls_, deadline, why);
  if (!connection) co_return fail(connection.error());
  std::string id = new_session_id();
  auto initiator = Initiator::create(options_.server_key, handshake_prologue(id));
  if (!initiator) co_return fail(initiator.error());
  auto now = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  auto first = (*initiator)->write_message1([&](const crypto::Digest& hash) {
    auto preamble = tls::make_preamble(options_.credential, hash, options_.preamble_version);
    return make_hello_payload(now, preamble, crypto::random_below(512));
  });
  if (!first) co_return fail(first.error());
  std::size_t size = first->size();
  auto request = (*connection)
                     ->submit(chromium_fetch_headers("POST", options_.authority, options_.prefix + "/" + id, size),
                              std::move(*first), false);
  asio::steady_timer timer(executor_, deadline);
  auto status = co_await (request->status() || timer.async_wait(use_tuple));
  if (status.index() == 1) {
    (*connection)->close();
    why = "the server did not answer through the CDN in time";
    co_return fail(Errc::timed_out);
  }
  auto code = std::get<0>(status);
  if (!code) {
    why = "the CDN closed the connection during the handshake";
    co_return fail(Errc::dial_failed);
  }
  if (*code != 200) {
    (*connection)->close();
    why = "the CDN answered " + std::to_string(*code) +
          " for the server's path: the server did not accept this link (revoked, expired, over quota, or a wrong key), "
          "or the path in the link is not the server's";
    co_return fail(Errc::auth_failed);
  }
  auto answer = co_await read_whole(*request, kMaxHandshakeAnswer);
  SessionKeys keys;
  auto payload = answer ? (*initiator)->read_message2(*answer, keys) : Result<Bytes>(fail(answer.error()));
  if (!payload) {
    (*connection)->close();
    why = "the answer does not come from the server whose key is in the link";
    co_return fail(Errc::auth_failed);
  }
  ChannelLimits limits;
  auto core = std::make_shared<ChannelCore>(executor_, keys.client_to_server, keys.server_to_client, limits);
  auto carrier = std::make_shared<Carrier>(options_, tls_, id, core, *connection);
  asio::co_spawn(executor_, carrier->run(), asio::detached);
  DialedTunnel dialed;
  dialed.stream = std::make_unique<ChannelStream>(core);
  co_return dialed;
}

}  // namespace culvert::cdn
