// Mux session: many streams over one ByteStream (a TLS tunnel). Runs two coroutines per tunnel,
// a reader that dispatches frames and a writer that drains one shared outbox, so small frames of
// many streams coalesce into few TLS records.
//
// Threading: a Session and its streams live on one single-threaded executor.
// Ownership: Session is held by shared_ptr (the tunnel owner and every open stream share it);
// Stream is the ByteStream an application reads and writes, owned by its user.
// Flow control: every stream has a receive window (protocol constant kInitialWindow, grown by
// WINDOW frames); a sender never has more unacknowledged data in flight than the peer's window,
// so one stalled stream holds at most its window and never blocks the others. The shared outbox
// is bounded too (kMaxOutbox): writers wait when the tunnel itself is slower than they are.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <unordered_map>

#include "core/byte_buffer.h"
#include "core/byte_stream.h"
#include "core/destination.h"
#include "core/signal.h"
#include "mux/frame.h"

namespace culvert::mux {

inline constexpr std::uint32_t kInitialWindow = 256 * 1024;
inline constexpr std::size_t kMaxOutbox = 512 * 1024;

// How the first records of a tunnel are shaped, so that the sizes of an inner TLS handshake do not
// show through them (TLS-in-TLS; Xue et al., USENIX Security 2024). After `padded_writes` writes
// nothing is padded any more, so bulk transfers pay nothing.
struct PaddingPolicy {
  int padded_writes = 8;            // the first writes of the tunnel that carry a PADDING frame
  std::uint32_t max_padding = 255;  // of random length 0..max_padding bytes
  // The tunnel's first write is padded to a random total in [first_write_min, first_write_max]
  // bytes (0: off): larger than any ClientHello (the inner one rides in it), like a browser's
  // first burst of requests with cookies.
  std::uint32_t first_write_min = 0;
  std::uint32_t first_write_max = 0;

  static PaddingPolicy client_default() { return {8, 255, 3300, 4800}; }
  static PaddingPolicy off() { return {0, 0, 0, 0}; }
};

struct SessionOptions {
  bool is_client = true;
  std::uint32_t receive_window = 8 * 1024 * 1024;  // per stream, grown from kInitialWindow
  std::size_t max_streams = 4096;
  // Ping when nothing arrived for this long; 0 disables pings (the server only answers them).
  std::chrono::milliseconds keepalive_interval{15000};
  // Close the tunnel when nothing at all arrived for this long (a dead or black-holed peer).
  std::chrono::milliseconds dead_after{45000};
  // Close the tunnel after this long with no open stream.
  std::chrono::milliseconds idle_close{300000};
  PaddingPolicy padding;
  std::function<std::uint32_t(std::uint32_t)> random_below;  // injected for deterministic tests
  // Counts transport bytes against an allowance (the user's quota), before a write and after a
  // read; false closes the tunnel (Errc::auth_failed), so a quota is overshot by at most one read.
  std::function<bool(std::uint64_t)> charge;
  // Called before every write, with whether the writer waited for something to send first (the
  // tunnel may have sat idle): the owner tends the socket under it (core/congestion_watch.h).
  std::function<void(bool waited)> before_write;
};

struct StreamState;
class Session;

// One UDP datagram with its peer: where it goes (client to server) or where it came from.
struct Datagram {
  Destination destination;
  Bytes payload;
};
inline constexpr std::size_t kMaxQueuedDatagrams = 256;
inline constexpr std::size_t kMaxQueuedDatagramBytes = 1024 * 1024;
// Bytes received by every session of this process and not yet read by their applications (stream
// data and datagrams). Bounded per stream by its window; servers hold the total to a budget.
std::size_t buffered_bytes();

// Where a datagram for the server's own DNS resolver goes (.invalid never resolves: RFC 2606).
inline constexpr std::string_view kTunnelResolverName = "resolver.culvert.invalid";

// The error a stream's reads end with when the peer resets it for `reason`: Errc::dial_failed,
// Errc::destination_refused, Errc::timed_out (the server could not reach the destination), or
// Errc::stream_reset.
Errc reset_error_for(ResetReason reason);

class Stream final : public ByteStream {
 public:
  Stream(std::shared_ptr<Session> session, std::shared_ptr<StreamState> state);
  ~Stream() override;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  asio::awaitable<IoResult> read_some(asio::mutable_buffer buffer) override;
  bool readable_now() override;
  asio::awaitable<std::tuple<std::error_code>> wait_readable() override;
  ByteSpan buffered() override;
  void consume_buffered(std::size_t n) override;
  asio::awaitable<std::error_code> write_all(asio::const_buffer buffer) override;
  asio::awaitable<void> shutdown_send() override;
  // Resets the stream (peer sees RST) unless both directions already ended.
  void close() override;
  // Resets with a reason the peer can report (e.g. dial_failed).
  void reset(ResetReason reason);
  using ByteStream::reset;

  std::uint32_t id() const;

  // Datagram associations (Session::open_datagram, or an OPEN with kFlagDatagram) only.
  bool is_datagram() const;
  // Reset by either side, or both directions ended: the stream carries nothing more.
  bool is_closed() const;
  // Queues one datagram; false when it is dropped (too large, the tunnel's outbox is full, the
  // association ended). Never waits: UDP has no back-pressure.
  bool send_datagram(const Destination& destination, ByteSpan payload);
  // The next datagram from the peer; an error once the association or tunnel ended.
  asio::awaitable<Result<Datagram>> receive_datagram();

 private:
  std::shared_ptr<Session> session_;
  std::shared_ptr<StreamState> state_;
};

struct SessionCounters {
  std::uint64_t bytes_in = 0;   // transport bytes read
  std::uint64_t bytes_out = 0;  // transport bytes written
  std::uint64_t streams_opened = 0;
  std::uint64_t datagrams_dropped = 0;  // sent into a full outbox or received into a full queue
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  using AcceptHandler = std::function<void(std::unique_ptr<Stream>, Destination)>;

  static std::shared_ptr<Session> create(const asio::any_io_executor& executor, ByteStreamPtr transport,
                                         SessionOptions options);
  ~Session();

  // Bytes written before any frame (the client's authentication preamble).
  void prefix_output(ByteSpan bytes);
  // Bytes already read from the transport that belong to the mux (the server's first record).
  void feed_input(ByteSpan bytes);
  // Server side: called for each stream the peer opens.
  void set_accept_handler(AcceptHandler handler) { on_accept_ = std::move(handler); }
  // Called once when the session ends.
  void set_closed_handler(std::function<void(std::error_code)> handler) { on_closed_ = std::move(handler); }

  // Runs the reader, writer and keepalive until the session ends. Spawn it once.
  asio::awaitable<void> run();

  // Client side: opens a stream to `destination`; `first_data` rides in the OPEN frame.
  // Fails when the session is closed or at its stream limit.
  Result<std::unique_ptr<Stream>> open(const Destination& destination, ByteSpan first_data);
  // Client side: opens a datagram association (UDP) on the same terms.
  Result<std::unique_ptr<Stream>> open_datagram();

  void close(std::error_code reason);
  bool is_open() const { return !closed_; }
  // Open and the peer has not said GOAWAY: new streams may go here.
  bool accepting() const { return !closed_ && !peer_goaway_; }
  // Tells the peer this side accepts no new streams (server drain); open streams go on.
  void goaway();
  std::size_t stream_count() const { return streams_.size(); }
  // No stream can be opened until one ends (max_streams, which the peer enforces too).
  bool at_capacity() const { return streams_.size() >= options_.max_streams; }
  const SessionCounters& counters() const { return counters_; }

 private:
  friend class Stream;
  Session(const asio::any_io_executor& executor, ByteStreamPtr transport, SessionOptions options);

  asio::awaitable<void> read_loop();
  asio::awaitable<void> write_loop();
  asio::awaitable<void> keepalive_loop();
  std::error_code handle_frame(const Frame& frame);
  std::shared_ptr<StreamState> new_stream(std::uint32_t id);
  void remove_stream_if_done(StreamState& s);
  void enqueue(FrameType type, std::uint8_t flags, std::uint32_t stream_id, ByteSpan payload);
  void on_consumed(StreamState& s, std::size_t n);
  void grant_window(StreamState& s);
  std::error_code handle_datagram(const Frame& frame);

  asio::any_io_executor executor_;
  ByteStreamPtr transport_;
  SessionOptions options_;
  std::unordered_map<std::uint32_t, std::shared_ptr<StreamState>> streams_;
  std::uint32_t next_stream_id_;
  std::uint32_t highest_peer_stream_ = 0;
  ByteBuffer input_;  // transport bytes not yet decoded into frames
  Bytes outbox_;
  Signal outbox_ready_;
  Signal outbox_drained_;
  bool closed_ = false;
  bool peer_goaway_ = false;
  bool sent_goaway_ = false;
  int writes_done_ = 0;
  std::chrono::steady_clock::time_point last_received_;
  std::chrono::steady_clock::time_point last_stream_activity_;
  AcceptHandler on_accept_;
  std::function<void(std::error_code)> on_closed_;
  SessionCounters counters_;
};

}  // namespace culvert::mux
