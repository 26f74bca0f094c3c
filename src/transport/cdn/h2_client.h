// An HTTP/2 client connection (libnghttp2 for the framing) that opens the way Chromium 156 does:
// SETTINGS HEADER_TABLE_SIZE 65536, ENABLE_PUSH 0, INITIAL_WINDOW_SIZE 6291456,
// MAX_HEADER_LIST_SIZE 262144, then WINDOW_UPDATE +15663105 on the connection, and requests
// whose HEADERS carry an exclusive priority on stream 0 (weight 256 for a page, 220 for fetch()),
// pseudo-headers in the order :method :authority :scheme :path. The reference is
// lab/data/h2/chromium-156-fetch.txt (nghttpd's trace of Chromium loading a page that calls
// fetch(); the test compares against it).
// Thread model: one single-threaded executor. Ownership: the client owns the TLS stream;
// requests are shared between the client and their users and outlive neither's need.
#pragma once

#include <nghttp2/nghttp2.h>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/byte_stream.h"
#include "core/bytes.h"
#include "core/result.h"
#include "core/signal.h"

namespace culvert::cdn {

struct HeaderField {
  std::string name;
  std::string value;
};

class H2Client;

// One request/response exchange.
class H2Request {
 public:
  explicit H2Request(const asio::any_io_executor& executor) : signal_(executor) {}

  // Waits for the response's status (its headers), or the exchange's failure.
  asio::awaitable<Result<int>> status();
  // The response body: at least one byte, end of stream as asio::error::eof, or the failure.
  asio::awaitable<IoResult> read_some(asio::mutable_buffer buffer);
  // A streaming request body: bytes to send (queued), and its end.
  void write(ByteSpan bytes);
  void finish();
  std::size_t queued() const { return out_.size() - out_pos_; }
  // The response's header fields (lower-case names), once status() returned.
  const std::vector<HeaderField>& response_headers() const { return headers_; }
  // RST_STREAM(CANCEL); reads then fail.
  void cancel();
  bool done() const { return closed_; }

 private:
  friend class H2Client;
  void fail(std::error_code ec);

  H2Client* client_ = nullptr;
  std::int32_t stream_id_ = -1;
  int status_ = 0;
  std::vector<HeaderField> headers_;
  bool headers_done_ = false;
  bool ended_ = false;  // the response body ended (END_STREAM)
  bool closed_ = false;
  std::error_code error_;
  Bytes in_;  // response body received and not yet read
  std::size_t in_pos_ = 0;
  bool streaming_ = false;
  bool finished_ = false;  // no more request body
  Bytes out_;              // request body not yet framed
  std::size_t out_pos_ = 0;
  Signal signal_;
};

class H2Client {
 public:
  H2Client(asio::any_io_executor executor, ByteStreamPtr stream);
  ~H2Client();
  H2Client(const H2Client&) = delete;
  H2Client& operator=(const H2Client&) = delete;

  // Reads and writes until the connection ends (peer, error, GOAWAY with nothing left, close());
  // then every request still open fails with Errc::tunnel_closed.
  asio::awaitable<void> run();
  bool open() const { return open_; }
  // Open and not told to go away (GOAWAY): new requests belong on another connection.
  bool accepting() const { return open_ && !going_away_; }
  void close();

  // Submits a request. `headers` are sent in the given order (pseudo-headers first). A request
  // has no body (`body` empty and not `streaming`: END_STREAM on HEADERS), a fixed body, or a
  // streaming one (written through the request). `weight`: 256 for a page, 220 for fetch().
  std::shared_ptr<H2Request> submit(const std::vector<HeaderField>& headers, Bytes body, bool streaming,
                                    int weight = 220);
  std::size_t active_requests() const { return requests_.size(); }

 private:
  friend class H2Request;
  static int on_header(nghttp2_session*, const nghttp2_frame*, const std::uint8_t*, std::size_t, const std::uint8_t*,
                       std::size_t, std::uint8_t, void*);
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame*, void*);
  static int on_data_chunk(nghttp2_session*, std::uint8_t, std::int32_t, const std::uint8_t*, std::size_t, void*);
  static int on_stream_close(nghttp2_session*, std::int32_t, std::uint32_t, void*);
  static ssize_t read_body(nghttp2_session*, std::int32_t, std::uint8_t*, std::size_t, std::uint32_t*,
                           nghttp2_data_source*, void*);
  H2Request* find(std::int32_t stream_id);
  asio::awaitable<void> read_loop();
  asio::awaitable<void> write_loop();
  void wake_writer() { want_write_.notify(); }
  void end(std::error_code ec);

  asio::any_io_executor executor_;
  ByteStreamPtr stream_;
  nghttp2_session* session_ = nullptr;
  std::map<std::int32_t, std::shared_ptr<H2Request>> requests_;
  Signal want_write_;
  bool open_ = true;
  bool going_away_ = false;
};

// Chromium's request headers for fetch() from a page of `origin_host` (same origin).
std::vector<HeaderField> chromium_fetch_headers(const std::string& method, const std::string& authority,
                                                const std::string& path, std::optional<std::size_t> content_length);

}  // namespace culvert::cdn
