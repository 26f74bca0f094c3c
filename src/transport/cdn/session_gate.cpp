#include "transport/cdn/session_gate.h"

#include <openssl/crypto.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <charconv>

#include "core/await.h"
#include "crypto/crypto.h"

namespace culvert::cdn {
namespace {

constexpr std::size_t kMaxHandshakeBody = 8192;
constexpr std::size_t kPreambleSize = 41;
constexpr std::size_t kDownloadBatch = 256 * 1024;
constexpr std::size_t kAckThreshold = 256 * 1024;
constexpr std::chrono::milliseconds kBodyTimeout{60000};
constexpr std::size_t kMaxTicketSize = kSegmentHeader + kSegmentTrailer;

bool valid_session_id(std::string_view id) {
  if (id.size() != kSessionIdLength) return false;
  for (char c : id)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
      return false;
  return true;
}

std::optional<std::uint32_t> parse_number(std::string_view text) {
  std::uint32_t v = 0;
  if (text.empty() || text.size() > 10) return std::nullopt;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size()) return std::nullopt;
  return v;
}

std::uint64_t unix_seconds() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

}  // namespace

Bytes make_hello_payload(std::uint64_t unix_time, ByteSpan preamble, std::size_t padding) {
  Bytes out;
  Writer w(out);
  w.u8(kHandshakeVersion);
  w.u32(static_cast<std::uint32_t>(unix_time >> 32));
  w.u32(static_cast<std::uint32_t>(unix_time));
  w.bytes(preamble);
  w.u16(static_cast<std::uint16_t>(padding));
  Bytes pad = crypto::random_bytes(padding);
  w.bytes(pad);
  return out;
}

Result<HelloPayload> parse_hello_payload(ByteSpan payload) {
  Reader r(payload);
  auto version = r.u8();
  auto high = r.u32();
  auto low = r.u32();
  auto preamble = r.take(kPreambleSize);
  auto padding = r.u16();
  if (!version || !high || !low || !preamble || !padding) return fail(Errc::truncated);
  if (*version != kHandshakeVersion) return fail(Errc::unsupported);
  if (!r.take(*padding) || r.remaining() != 0) return fail(Errc::malformed);
  return HelloPayload{(std::uint64_t{*high} << 32) | *low, *preamble};
}

Bytes handshake_prologue(std::string_view session_id) {
  std::string text = "culvert cdn v1 " + std::string(session_id);
  return Bytes(text.begin(), text.end());
}

SessionGate::SessionGate(asio::any_io_executor executor, const Key& static_private, std::string prefix,
                         Authenticate authenticate, GateOptions options)
    : executor_(std::move(executor)),
      static_private_(static_private),
      prefix_(std::move(prefix)),
      authenticate_(std::move(authenticate)),
      options_(options),
      expiry_timer_(executor_) {
  asio::co_spawn(executor_, expire_sessions(), asio::detached);
}

SessionGate::~SessionGate() {
  stop();
  OPENSSL_cleanse(static_private_.data(), static_private_.size());
}

void SessionGate::stop() {
  if (stopped_) return;
  stopped_ = true;
  expiry_timer_.cancel();
  auto sessions = std::move(sessions_);
  sessions_.clear();
  for (auto& [id, s] : sessions) s->core->fail(make_error_code(Errc::tunnel_closed));
}

cover::Claim SessionGate::claim() {
  cover::Claim c;
  c.wants = [this](std::string_view uri) {
    return !stopped_ && uri.size() > prefix_.size() + 1 && uri.substr(0, prefix_.size()) == prefix_ &&
           uri[prefix_.size()] == '/';
  };
  c.handle = [this](cover::Exchange& exchange) { return handle(exchange); };
  return c;
}

asio::awaitable<cover::Handled> SessionGate::handle(cover::Exchange& exchange) {
  const auto& request = exchange.request();
  std::string_view rest = std::string_view(request.uri).substr(prefix_.size() + 1);
  std::string_view id = rest.substr(0, rest.find('/'));
  if (!valid_session_id(id)) co_return cover::Handled::cover;
  rest.remove_prefix(id.size());
  std::string key(id);
  if (rest.empty()) {
    if (request.method != "POST") co_return cover::Handled::cover;
    co_return co_await handshake(exchange, key);
  }
  auto it = sessions_.find(key);
  if (it == sessions_.end() || it->second->core->closed) co_return cover::Handled::cover;
  auto session = it->second;
  // "/d/TICKET", "/u/K" or "/s/K"
  if (rest.size() < 4 || rest[0] != '/' || rest[2] != '/') co_return cover::Handled::cover;
  if (rest[1] == 'd' && request.method == "GET") {
    // The ticket in the path says from where to send; a replayed or forged one is not the session's.
    auto ticket = crypto::base64url_decode(rest.substr(3));
    if (!ticket || ticket->size() > kMaxTicketSize) co_return cover::Handled::cover;
    auto from = session->core->take_ticket(*ticket);
    if (!from) co_return cover::Handled::cover;
    session->last_request = std::chrono::steady_clock::now();
    co_return co_await download(exchange, session, *from);
  }
  if (!parse_number(rest.substr(3))) co_return cover::Handled::cover;
  if ((rest[1] == 'u' || rest[1] == 's') && request.method == "POST") {
    session->last_request = std::chrono::steady_clock::now();
    co_return co_await upload(exchange, session);
  }
  co_return cover::Handled::cover;
}

bool SessionGate::remember_ephemeral(const Key& ephemeral) {
  auto now = std::chrono::steady_clock::now();
  auto horizon = 2 * options_.clock_skew;
  for (auto it = seen_ephemerals_.begin(); it != seen_ephemerals_.end();)
    it = now - it->second > horizon ? seen_ephemerals_.erase(it) : std::next(it);
  if (seen_ephemerals_.count(ephemeral)) return false;
  if (seen_ephemerals_.size() >= options_.max_replay_entries) return false;  // refuse rather than forget
  seen_ephemerals_.emplace(ephemeral, now);
  return true;
}

asio::awaitable<cover::Handled> SessionGate::handshake(cover::Exchange& exchange, const std::string& id) {
  if (sessions_.count(id)) co_return cover::Handled::cover;
  Bytes body;
  std::uint8_t chunk[4096];
  for (;;) {
    auto n = co_await exchange.read_body(chunk, kBodyTimeout);
    if (!n) co_return cover::Handled::failed;
    if (*n == 0) break;
    body.insert(body.end(), chunk, chunk + *n);
    if (body.size() > kMaxHandshakeBody) co_return cover::Handled::cover;
  }
  auto responder = Responder::create(static_private_, handshake_prologue(id));
  if (!responder) co_return cover::Handled::cover;
  auto m1 = (*responder)->read_message1(body);
  if (!m1) co_return cover::Handled::cover;
  auto hello = parse_hello_payload(m1->payload);
  if (!hello) co_return cover::Handled::cover;
  auto now = unix_seconds();
  auto skew = static_cast<std::uint64_t>(options_.clock_skew.count());
  if (hello->unix_time + skew < now || hello->unix_time > now + skew) co_return cover::Handled::cover;
  auto start = authenticate_(hello->preamble, m1->proof_hash);
  if (!start) co_return cover::Handled::cover;
  // Only a valid handshake is remembered, so nobody can fill the cache without a user's key.
  if (!remember_ephemeral(m1->ephemeral)) co_return cover::Handled::cover;
  Bytes answer_payload;
  Writer w(answer_payload);
  w.u8(kHandshakeVersion);
  std::size_t pad = crypto::random_below(256);
  w.u16(static_cast<std::uint16_t>(pad));
  w.bytes(crypto::random_bytes(pad));
  SessionKeys keys;
  auto m2 = (*responder)->write_message2(answer_payload, keys);
  if (!m2) co_return cover::Handled::cover;
  auto session = std::make_shared<Session>();
  session->core =
      std::make_shared<ChannelCore>(executor_, keys.server_to_client, keys.client_to_server, options_.limits);
  session->last_request = std::chrono::steady_clock::now();
  OPENSSL_cleanse(keys.client_to_server.data(), keys.client_to_server.size());
  OPENSSL_cleanse(keys.server_to_client.data(), keys.server_to_client.size());
  sessions_[id] = session;
  if (!co_await exchange.respond(*m2)) {
    session->core->fail(make_error_code(Errc::tunnel_closed));
    sessions_.erase(id);
    co_return cover::Handled::failed;
  }
  (*start)(std::make_unique<ChannelStream>(session->core));
  co_return cover::Handled::answered;
}

asio::awaitable<cover::Handled> SessionGate::download(cover::Exchange& exchange, std::shared_ptr<Session> session,
                                                      std::uint32_t from) {
  auto& core = *session->core;
  if (from < core.channel.oldest_kept() || from > core.channel.next_number()) co_return cover::Handled::cover;
  std::uint64_t generation = ++session->download_generation;
  session->core->outgoing.notify();  // an older download notices it is superseded
  if (!co_await exchange.stream_begin()) co_return cover::Handled::failed;
  session->downloading = true;
  std::uint32_t cursor = from;
  Bytes batch;
  auto ended = [&](cover::Handled how) {
    if (session->download_generation == generation) session->downloading = false;
    session->last_request = std::chrono::steady_clock::now();
    return how;
  };
  for (;;) {
    if (session->download_generation != generation) break;
    batch.clear();
    cursor = std::max(cursor, core.channel.oldest_kept());
    while (cursor < core.channel.next_number() && batch.size() < kDownloadBatch) {
      auto s = core.channel.segment(cursor++);
      batch.insert(batch.end(), s.begin(), s.end());
    }
    // Acknowledge streamed uploads here (an upload's own answer acknowledges packet uploads).
    if (batch.empty() && core.ack_due(kAckThreshold, std::chrono::milliseconds(20))) {
      auto ack = core.channel.ack_segment();
      batch.insert(batch.end(), ack.begin(), ack.end());
    }
    if (!batch.empty()) {
      if (!co_await exchange.stream(batch)) co_return ended(cover::Handled::failed);
      continue;
    }
    if (core.closed) break;  // everything, the final ABORT or FIN included, is on its way
    if (core.channel.unacknowledged_received() > 0) {
      co_await core.outgoing.wait_for(std::chrono::milliseconds(20));
    } else {
      co_await core.outgoing.wait();
    }
  }
  if (!co_await exchange.stream_end()) co_return ended(cover::Handled::failed);
  co_return ended(cover::Handled::answered);
}

asio::awaitable<cover::Handled> SessionGate::upload(cover::Exchange& exchange, std::shared_ptr<Session> session) {
  SegmentParser parser;
  std::uint8_t chunk[16384];
  bool bad = false, ticketed = false;
  auto& core = *session->core;
  for (;;) {
    auto n = co_await exchange.read_body(chunk, kBodyTimeout);
    if (!n) co_return cover::Handled::failed;
    if (*n == 0) break;
    if (bad) continue;  // read to the end, then answer as the cover
    if (!ticketed) {
      // The body's first segment is its ticket: a body replayed from elsewhere stops here.
      parser.feed(ByteSpan(chunk, *n));
      auto first = parser.next();
      if (!first) {
        bad = true;
        continue;
      }
      if (!*first) continue;  // not whole yet
      if (!core.take_ticket(**first)) {
        bad = true;
        continue;
      }
      ticketed = true;
      if (!core.receive_bytes(parser, {})) bad = true;
      continue;
    }
    if (!core.receive_bytes(parser, ByteSpan(chunk, *n))) bad = true;
  }
  if (!ticketed) bad = true;
  session->last_request = std::chrono::steady_clock::now();
  if (bad || parser.pending() != 0) co_return cover::Handled::cover;
  auto ack = session->core->channel.ack_segment();
  if (!co_await exchange.respond(ack)) co_return cover::Handled::failed;
  co_return cover::Handled::answered;
}

asio::awaitable<void> SessionGate::expire_sessions() {
  while (!stopped_) {
    expiry_timer_.expires_after(std::chrono::seconds(5));
    co_await expiry_timer_.async_wait(use_tuple);
    if (stopped_) co_return;
    auto now = std::chrono::steady_clock::now();
    for (auto it = sessions_.begin(); it != sessions_.end();) {
      auto& s = *it->second;
      bool idle = !s.downloading && now - s.last_request > options_.session_idle &&
                  now - s.core->last_heard > options_.session_idle;
      if (idle) s.core->fail(make_error_code(Errc::timed_out));
      // A closed session lingers while its download drains, then goes.
      if (s.core->closed && !s.downloading && now - s.last_request > std::chrono::seconds(10)) {
        it = sessions_.erase(it);
      } else {
        ++it;
      }
    }
  }
}

}  // namespace culvert::cdn
