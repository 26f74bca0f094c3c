#include "mux/session.h"

#include <spdlog/spdlog.h>
#include "core/await.h"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/error.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <cstring>
#include <deque>

#include "core/chunk_queue.h"
#include "crypto/crypto.h"

namespace culvert::mux {

namespace {

std::string_view describe_reset(std::error_code ec) {
  if (ec == Errc::dial_failed) return "the server could not connect to the destination";
  if (ec == Errc::destination_refused) return "the server refuses that destination (a private or local address)";
  if (ec == Errc::timed_out) return "the server's connection to the destination timed out";
  return "reset";
}

}  // namespace

Errc reset_error_for(ResetReason reason) {
  switch (reason) {
    case ResetReason::dial_failed:
      return Errc::dial_failed;
    case ResetReason::refused:
      return Errc::destination_refused;
    case ResetReason::timed_out:
      return Errc::timed_out;
    default:
      return Errc::stream_reset;
  }
}

namespace {
// Bytes received from peers and not yet read by the application, over every session of the
// process (one executor per process: a plain counter). Servers refuse new work past a budget.
std::size_t g_buffered = 0;
}  // namespace

std::size_t buffered_bytes() { return g_buffered; }

struct StreamState {
  StreamState(std::uint32_t stream_id, const asio::any_io_executor& ex) : id(stream_id), changed(ex) {}
  ~StreamState() { g_buffered -= received.size() + (datagrams ? datagrams->queued_bytes : 0); }
  std::uint32_t id;
  ChunkQueue received;  // bytes not yet read by the application
  bool remote_fin = false;
  bool local_fin = false;
  bool reset = false;  // by either side, or the tunnel ended
  std::error_code reset_error;
  std::uint32_t send_window = kInitialWindow;     // how much more we may send
  std::uint64_t receive_credit = kInitialWindow;  // how much more the peer may send us
  std::size_t consumed_unacked = 0;               // read by the app but not yet granted back
  std::uint32_t window_to_grant = 0;              // growth past kInitialWindow not yet announced
  // Wakes this stream's reader and writer on any change (data, window, end, reset); each re-checks
  // its own condition. One signal, not two: it is per stream, and streams are many.
  Signal changed;
  bool in_map = true;
  // Datagram associations only (allocated for them alone: byte streams are many).
  struct Datagrams {
    std::deque<Datagram> queue;
    std::size_t queued_bytes = 0;
    Bytes partial;  // fragments of a datagram still arriving
  };
  std::unique_ptr<Datagrams> datagrams;
};

namespace {
constexpr std::size_t kReadChunk = 256 * 1024;

std::uint32_t default_random_below(std::uint32_t bound) { return crypto::random_below(bound); }
}  // namespace

// ---- Stream ----

Stream::Stream(std::shared_ptr<Session> session, std::shared_ptr<StreamState> state)
    : session_(std::move(session)), state_(std::move(state)) {}

Stream::~Stream() { close(); }

std::uint32_t Stream::id() const { return state_->id; }

asio::awaitable<IoResult> Stream::read_some(asio::mutable_buffer buffer) {
  auto& s = *state_;
  for (;;) {
    if (!s.received.empty()) {
      std::size_t n = s.received.read({static_cast<std::uint8_t*>(buffer.data()), buffer.size()});
      g_buffered -= n;
      session_->on_consumed(s, n);
      co_return IoResult{{}, n};
    }
    if (s.reset) co_return IoResult{s.reset_error, 0};
    if (s.remote_fin) co_return IoResult{asio::error::eof, 0};
    co_await s.changed.wait();
  }
}

ByteSpan Stream::buffered() { return state_->received.front(); }

void Stream::consume_buffered(std::size_t n) {
  state_->received.consume(n);
  g_buffered -= n;
  session_->on_consumed(*state_, n);
}

bool Stream::readable_now() {
  auto& s = *state_;
  return !s.received.empty() || s.reset || s.remote_fin;
}

asio::awaitable<std::tuple<std::error_code>> Stream::wait_readable() {
  state_->received.shrink_if_empty();  // an idle stream keeps no receive buffer
  return state_->changed.wait();
}

bool Stream::is_datagram() const { return state_->datagrams != nullptr; }

bool Stream::is_closed() const { return state_->reset || (state_->local_fin && state_->remote_fin); }

bool Stream::send_datagram(const Destination& destination, ByteSpan payload) {
  auto& s = *state_;
  if (!s.datagrams || s.reset || s.local_fin || session_->closed_) return false;
  if (payload.size() > kMaxDatagram || session_->outbox_.size() >= kMaxOutbox) {
    ++session_->counters_.datagrams_dropped;
    return false;
  }
  Bytes encoded;
  encoded.reserve(payload.size() + 260);
  encode_destination(destination, encoded);
  encoded.insert(encoded.end(), payload.begin(), payload.end());
  ByteSpan rest(encoded);
  while (!rest.empty()) {
    std::size_t n = std::min(rest.size(), kMaxPayload);
    session_->enqueue(FrameType::datagram, n < rest.size() ? kFlagMore : 0, s.id, rest.first(n));
    rest = rest.subspan(n);
  }
  return true;
}

asio::awaitable<Result<Datagram>> Stream::receive_datagram() {
  auto& s = *state_;
  if (!s.datagrams) co_return fail(Errc::protocol_violation);
  for (;;) {
    if (!s.datagrams->queue.empty()) {
      Datagram d = std::move(s.datagrams->queue.front());
      s.datagrams->queue.pop_front();
      s.datagrams->queued_bytes -= d.payload.size();
      g_buffered -= d.payload.size();
      co_return d;
    }
    if (s.reset) co_return fail(s.reset_error);
    if (s.remote_fin) co_return fail(Errc::stream_reset);
    co_await s.changed.wait();
  }
}

asio::awaitable<std::error_code> Stream::write_all(asio::const_buffer buffer) {
  auto& s = *state_;
  if (s.datagrams) co_return make_error_code(Errc::protocol_violation);
  session_->grant_window(s);  // with the first data this side sends (a server's first answer)
  auto* data = static_cast<const std::uint8_t*>(buffer.data());
  std::size_t left = buffer.size();
  while (left > 0) {
    if (s.reset) co_return s.reset_error;
    if (s.local_fin) co_return make_error_code(Errc::protocol_violation);
    if (s.send_window == 0) {
      co_await s.changed.wait();
      continue;
    }
    if (session_->outbox_.size() >= kMaxOutbox) {
      co_await session_->outbox_drained_.wait();
      continue;
    }
    std::size_t n = std::min<std::size_t>({left, s.send_window, kMaxPayload});
    session_->enqueue(FrameType::data, 0, s.id, {data, n});
    s.send_window -= static_cast<std::uint32_t>(n);
    data += n;
    left -= n;
  }
  co_return std::error_code{};
}

asio::awaitable<void> Stream::shutdown_send() {
  auto& s = *state_;
  if (!s.local_fin && !s.reset) {
    s.local_fin = true;
    session_->enqueue(FrameType::fin, 0, s.id, {});
    session_->remove_stream_if_done(s);
  }
  co_return;
}

void Stream::close() { reset(ResetReason::cancelled); }

void Stream::reset(ResetReason reason) {
  auto& s = *state_;
  if (s.reset || (s.local_fin && s.remote_fin)) {
    session_->remove_stream_if_done(s);
    return;
  }
  s.reset = true;
  s.reset_error = make_error_code(Errc::stream_reset);
  std::uint8_t code = static_cast<std::uint8_t>(reason);
  session_->enqueue(FrameType::reset, 0, s.id, {&code, 1});
  s.changed.notify();
  session_->remove_stream_if_done(s);
}

// ---- Session ----

std::shared_ptr<Session> Session::create(const asio::any_io_executor& executor, ByteStreamPtr transport,
                                         SessionOptions options) {
  return std::shared_ptr<Session>(new Session(executor, std::move(transport), std::move(options)));
}

Session::Session(const asio::any_io_executor& executor, ByteStreamPtr transport, SessionOptions options)
    : executor_(executor),
      transport_(std::move(transport)),
      options_(std::move(options)),
      next_stream_id_(options_.is_client ? 1 : 2),
      outbox_ready_(executor),
      outbox_drained_(executor),
      last_received_(std::chrono::steady_clock::now()),
      last_stream_activity_(last_received_) {
  if (!options_.random_below) options_.random_below = default_random_below;
}

Session::~Session() {
  if (transport_) transport_->close();
}

void Session::prefix_output(ByteSpan bytes) { outbox_.insert(outbox_.begin(), bytes.begin(), bytes.end()); }

void Session::feed_input(ByteSpan bytes) { input_.append(bytes); }

void Session::enqueue(FrameType type, std::uint8_t flags, std::uint32_t stream_id, ByteSpan payload) {
  if (closed_) return;
  encode_frame(type, flags, stream_id, payload, outbox_);
  outbox_ready_.notify();
}

std::shared_ptr<StreamState> Session::new_stream(std::uint32_t id) {
  auto state = std::make_shared<StreamState>(id, executor_);
  streams_.emplace(id, state);
  ++counters_.streams_opened;
  last_stream_activity_ = std::chrono::steady_clock::now();
  // Grow the peer's allowance from the protocol's initial window to ours: announced with this side's
  // first frame on the stream (see grant_window), not in a record of its own.
  if (options_.receive_window > kInitialWindow) state->window_to_grant = options_.receive_window - kInitialWindow;
  return state;
}

void Session::grant_window(StreamState& s) {
  if (s.window_to_grant == 0 || s.reset || closed_) return;
  Bytes inc;
  Writer(inc).u32(s.window_to_grant);
  s.receive_credit += s.window_to_grant;
  s.window_to_grant = 0;
  enqueue(FrameType::window, 0, s.id, inc);
}

void Session::remove_stream_if_done(StreamState& s) {
  bool done = s.reset || (s.local_fin && s.remote_fin);
  if (done && s.in_map) {
    s.in_map = false;
    streams_.erase(s.id);
    last_stream_activity_ = std::chrono::steady_clock::now();
  }
}

void Session::on_consumed(StreamState& s, std::size_t n) {
  if (s.reset || s.remote_fin || closed_) return;
  grant_window(s);
  s.consumed_unacked += n;
  if (s.consumed_unacked >= options_.receive_window / 4) {
    Bytes inc;
    Writer(inc).u32(static_cast<std::uint32_t>(s.consumed_unacked));
    s.receive_credit += s.consumed_unacked;
    s.consumed_unacked = 0;
    enqueue(FrameType::window, 0, s.id, inc);
  }
}

Result<std::unique_ptr<Stream>> Session::open(const Destination& destination, ByteSpan first_data) {
  if (closed_ || peer_goaway_) return fail(Errc::tunnel_closed);
  if (streams_.size() >= options_.max_streams) return fail(Errc::too_large);
  std::uint32_t id = next_stream_id_;
  next_stream_id_ += 2;
  Bytes destination_bytes;
  encode_destination(destination, destination_bytes);
  std::size_t room = kMaxPayload - destination_bytes.size();
  std::size_t first = std::min({first_data.size(), room, static_cast<std::size_t>(kInitialWindow)});
  Bytes payload = destination_bytes;
  payload.insert(payload.end(), first_data.begin(), first_data.begin() + static_cast<std::ptrdiff_t>(first));
  // OPEN precedes the stream's WINDOW frame, so encode it before new_stream() queues that.
  enqueue(FrameType::open, 0, id, payload);
  auto state = new_stream(id);
  grant_window(*state);  // rides in the same write as the OPEN
  state->send_window -= static_cast<std::uint32_t>(first);
  auto stream = std::make_unique<Stream>(shared_from_this(), state);
  if (first < first_data.size()) {
    // Rare: first data larger than one frame. Queue the rest as DATA within the window.
    ByteSpan rest = first_data.subspan(first);
    while (!rest.empty() && state->send_window > 0) {
      std::size_t n = std::min<std::size_t>({rest.size(), state->send_window, kMaxPayload});
      enqueue(FrameType::data, 0, id, rest.first(n));
      state->send_window -= static_cast<std::uint32_t>(n);
      rest = rest.subspan(n);
    }
    if (!rest.empty()) return fail(Errc::too_large);
  }
  return stream;
}

Result<std::unique_ptr<Stream>> Session::open_datagram() {
  if (closed_ || peer_goaway_) return fail(Errc::tunnel_closed);
  if (streams_.size() >= options_.max_streams) return fail(Errc::too_large);
  std::uint32_t id = next_stream_id_;
  next_stream_id_ += 2;
  Bytes placeholder;
  encode_destination(Destination{Destination::Kind::ipv4, "0.0.0.0", 0}, placeholder);
  enqueue(FrameType::open, kFlagDatagram, id, placeholder);
  auto state = new_stream(id);
  state->window_to_grant = 0;  // datagrams are not flow-controlled
  state->datagrams = std::make_unique<StreamState::Datagrams>();
  return std::make_unique<Stream>(shared_from_this(), state);
}

std::error_code Session::handle_datagram(const Frame& f) {
  auto it = streams_.find(f.stream_id);
  if (it == streams_.end()) return {};  // an association that ended: late datagrams are dropped
  auto& s = *it->second;
  if (!s.datagrams) return make_error_code(Errc::protocol_violation);
  auto& d = *s.datagrams;
  if (d.partial.size() + f.payload.size() > kMaxDatagramEncoding) return make_error_code(Errc::protocol_violation);
  d.partial.insert(d.partial.end(), f.payload.begin(), f.payload.end());
  if (f.flags & kFlagMore) return {};
  Bytes whole;
  whole.swap(d.partial);
  Reader r(whole);
  auto destination = decode_destination(r);
  if (!destination) return make_error_code(Errc::protocol_violation);
  auto body = r.rest();
  if (body.size() > kMaxDatagram) return make_error_code(Errc::protocol_violation);
  if (s.reset || d.queue.size() >= kMaxQueuedDatagrams || d.queued_bytes + body.size() > kMaxQueuedDatagramBytes) {
    ++counters_.datagrams_dropped;
    return {};
  }
  d.queue.push_back(Datagram{std::move(*destination), Bytes(body.begin(), body.end())});
  d.queued_bytes += body.size();
  g_buffered += body.size();
  last_stream_activity_ = std::chrono::steady_clock::now();
  s.changed.notify();
  return {};
}

void Session::goaway() {
  if (closed_ || sent_goaway_) return;
  sent_goaway_ = true;
  enqueue(FrameType::goaway, 0, 0, {});
}

void Session::close(std::error_code reason) {
  if (closed_) return;
  closed_ = true;
  transport_->close();
  auto streams = std::move(streams_);
  streams_.clear();
  for (auto& [id, s] : streams) {
    s->in_map = false;
    if (!s->reset) {
      s->reset = true;
      s->reset_error = make_error_code(Errc::tunnel_closed);
    }
    s->changed.notify();
  }
  outbox_ready_.notify();
  outbox_drained_.notify();
  if (on_closed_) {
    auto handler = std::move(on_closed_);
    on_closed_ = nullptr;
    handler(reason);
  }
}

asio::awaitable<void> Session::run() {
  using namespace asio::experimental::awaitable_operators;
  auto self = shared_from_this();
  try {
    co_await (read_loop() || write_loop() || keepalive_loop());
  } catch (const std::exception&) {
    // A broken invariant in one tunnel must not take the process down: end this tunnel only.
  }
  close(make_error_code(Errc::tunnel_closed));
}

std::error_code Session::handle_frame(const Frame& f) {
  auto find = [&](std::uint32_t id) -> StreamState* {
    auto it = streams_.find(id);
    return it == streams_.end() ? nullptr : it->second.get();
  };
  switch (f.type) {
    case FrameType::open: {
      bool peer_owns_id = options_.is_client ? (f.stream_id % 2 == 0) : (f.stream_id % 2 == 1);
      // Clients accept no streams; servers take only odd ids, each once and in increasing order.
      if (options_.is_client || !peer_owns_id) return make_error_code(Errc::protocol_violation);
      if (streams_.count(f.stream_id) || f.stream_id <= highest_peer_stream_)
        return make_error_code(Errc::protocol_violation);
      highest_peer_stream_ = f.stream_id;
      auto open = decode_open_payload(f.payload);
      if (!open) return open.error();
      if (open->first_data.size() > kInitialWindow) return make_error_code(Errc::window_exceeded);
      bool datagram = (f.flags & kFlagDatagram) != 0;
      if (datagram && !open->first_data.empty()) return make_error_code(Errc::protocol_violation);
      auto state = new_stream(f.stream_id);
      if (datagram) {
        state->window_to_grant = 0;
        state->datagrams = std::make_unique<StreamState::Datagrams>();
      }
      if (streams_.size() > options_.max_streams) {
        state->reset = true;
        std::uint8_t code = static_cast<std::uint8_t>(ResetReason::refused);
        enqueue(FrameType::reset, 0, f.stream_id, {&code, 1});
        remove_stream_if_done(*state);
        return {};
      }
      state->received.append(open->first_data);
      g_buffered += open->first_data.size();
      state->receive_credit -= open->first_data.size();
      auto stream = std::make_unique<Stream>(shared_from_this(), state);
      if (on_accept_) {
        on_accept_(std::move(stream), open->destination);
      }
      return {};
    }
    case FrameType::data: {
      auto* s = find(f.stream_id);
      if (!s) return {};  // a stream we already reset: its in-flight data is dropped
      if (s->remote_fin || s->datagrams) return make_error_code(Errc::protocol_violation);
      if (f.payload.size() > s->receive_credit) return make_error_code(Errc::window_exceeded);
      s->receive_credit -= f.payload.size();
      s->received.append(f.payload);
      g_buffered += f.payload.size();
      s->changed.notify();
      return {};
    }
    case FrameType::fin: {
      auto* s = find(f.stream_id);
      if (!s) return {};
      s->remote_fin = true;
      s->changed.notify();
      remove_stream_if_done(*s);
      return {};
    }
    case FrameType::reset: {
      auto* s = find(f.stream_id);
      if (!s) return {};
      s->reset = true;
      // The reason travels on, so the client can tell the application why (reset_error_for).
      s->reset_error = make_error_code(reset_error_for(static_cast<ResetReason>(f.payload[0])));
      // The reason class is worth a line for the user (never the destination: that is debug).
      if (options_.is_client && s->reset_error != Errc::stream_reset)
        spdlog::info("a connection failed at the server: {}", describe_reset(s->reset_error));
      s->changed.notify();
      remove_stream_if_done(*s);
      return {};
    }
    case FrameType::window: {
      auto* s = find(f.stream_id);
      if (!s) return {};
      Reader r(f.payload);
      std::uint64_t grown = static_cast<std::uint64_t>(s->send_window) + *r.u32();
      if (grown > 0x7fffffffu) return make_error_code(Errc::protocol_violation);
      s->send_window = static_cast<std::uint32_t>(grown);
      s->changed.notify();
      return {};
    }
    case FrameType::ping:
      if (!(f.flags & kFlagAck)) enqueue(FrameType::ping, kFlagAck, 0, f.payload);
      return {};
    case FrameType::padding:
      return {};
    case FrameType::goaway:
      peer_goaway_ = true;
      return {};
    case FrameType::datagram:
      return handle_datagram(f);
  }
  return make_error_code(Errc::protocol_violation);
}

asio::awaitable<void> Session::read_loop() {
  for (;;) {
    // Decode everything buffered.
    for (;;) {
      std::size_t consumed = 0;
      auto frame = decode_frame(input_.bytes(), consumed);
      if (!frame) {
        close(frame.error());
        co_return;
      }
      if (!*frame) break;
      if (auto ec = handle_frame(**frame)) {
        close(ec);
        co_return;
      }
      input_.consume(consumed);
      if (closed_) co_return;
    }
    auto space = input_.prepare(kReadChunk);
    auto [ec, n] = co_await transport_->read_some(asio::buffer(space.data(), space.size()));
    input_.commit(n);
    if (ec) {
      close(ec);
      co_return;
    }
    counters_.bytes_in += n;
    last_received_ = std::chrono::steady_clock::now();
    if (options_.charge && !options_.charge(n)) {
      close(make_error_code(Errc::auth_failed));
      co_return;
    }
  }
}

asio::awaitable<void> Session::write_loop() {
  Bytes batch;
  for (;;) {
    bool waited = false;
    while (outbox_.empty() && !closed_) {
      waited = true;
      co_await outbox_ready_.wait();
    }
    if (closed_) co_return;
    if (options_.before_write) options_.before_write(waited);
    // Writers stop adding at kMaxOutbox, so the outbox is taken whole (whole frames) and swapped,
    // never copied.
    batch.clear();
    batch.swap(outbox_);
    if (writes_done_ < options_.padding.padded_writes) {
      const auto& policy = options_.padding;
      std::uint32_t pad = options_.random_below(policy.max_padding + 1);
      if (writes_done_ == 0 && policy.first_write_max > 0) {
        std::uint32_t target =
            policy.first_write_min + options_.random_below(policy.first_write_max - policy.first_write_min + 1);
        if (batch.size() + kHeaderSize < target) pad = static_cast<std::uint32_t>(target - batch.size() - kHeaderSize);
      }
      ++writes_done_;
      Bytes zeros(pad, 0);
      encode_frame(FrameType::padding, 0, 0, zeros, batch);
    }
    outbox_drained_.notify();
    if (options_.charge && !options_.charge(batch.size())) {
      close(make_error_code(Errc::auth_failed));
      co_return;
    }
    if (auto ec = co_await transport_->write_all(asio::buffer(batch))) {
      close(ec);
      co_return;
    }
    counters_.bytes_out += batch.size();
  }
}

asio::awaitable<void> Session::keepalive_loop() {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  auto tick = std::chrono::milliseconds(1000);
  if (options_.keepalive_interval.count() > 0) tick = std::min(tick, options_.keepalive_interval / 2);
  auto last_ping = std::chrono::steady_clock::time_point{};
  for (;;) {
    timer.expires_after(tick);
    co_await timer.async_wait(use_tuple);
    if (closed_) co_return;
    auto now = std::chrono::steady_clock::now();
    if (now - last_received_ > options_.dead_after) {
      close(make_error_code(Errc::timed_out));
      co_return;
    }
    if (streams_.empty() && now - last_stream_activity_ > options_.idle_close) {
      close(make_error_code(Errc::timed_out));
      co_return;
    }
    if (options_.keepalive_interval.count() > 0 && now - last_received_ >= options_.keepalive_interval &&
        now - last_ping >= options_.keepalive_interval) {
      last_ping = now;
      std::uint8_t nonce[8];
      crypto::random_bytes(nonce);
      enqueue(FrameType::ping, 0, 0, nonce);
    }
  }
}

}  // namespace culvert::mux
