#include "cover/http1.h"

#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <optional>
#include <vector>

#include "cover/chunked_body.h"
#include "cover/request_parser.h"
#include "cover/response.h"

namespace culvert::cover {
namespace {

constexpr std::size_t kLargeBufferSize = 8192;
constexpr int kLargeBuffers = 4;
constexpr int kKeepaliveRequests = 1000;
constexpr long long kClientMaxBodySize = 1024 * 1024;

struct Buffer {
  explicit Buffer(std::size_t size) : data(size) {}
  std::vector<std::uint8_t> data;
  std::size_t pos = 0, last = 0;
  bool full() const { return pos == data.size(); }
};

// How a request ends the connection, or not.
enum class After {
  keepalive,      // wait for the next request
  lingering,      // lingering close
  close,          // close (TLS: close_notify first)
  close_quietly,  // close without close_notify (timed out, failed, or the peer is gone)
};

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool contains_nocase(std::string_view hay, std::string_view needle) {
  return lower(hay).find(needle) != std::string::npos;
}

const char* method_name(Method m) {
  switch (m) {
    case Method::get:
      return "GET";
    case Method::head:
      return "HEAD";
    case Method::post:
      return "POST";
    default:
      return "OTHER";
  }
}

class Http1;

// A claimed request's body and answer, on the connection as nginx left it after the headers.
class ClaimedExchange final : public Exchange {
 public:
  ClaimedExchange(Http1& http, ClaimedRequest request) : http_(http), request_(std::move(request)) {
    left_ = request_.content_length.value_or(0);
  }
  const ClaimedRequest& request() const override { return request_; }
  asio::awaitable<Result<std::size_t>> read_body(std::span<std::uint8_t> into,
                                                 std::chrono::milliseconds timeout) override;
  asio::awaitable<bool> respond(ByteSpan body) override;
  asio::awaitable<bool> stream_begin() override;
  asio::awaitable<bool> stream(ByteSpan bytes) override;
  asio::awaitable<bool> stream_end() override;
  bool body_done() const { return request_.chunked ? decoder_.done() : left_ == 0; }

 private:
  std::string head(std::string_view extra) const;

  Http1& http_;
  ClaimedRequest request_;
  long long left_ = 0;  // Content-Length bytes still to read
  ChunkedDecoder decoder_;
  Bytes decoded_;
  std::size_t decoded_pos_ = 0;
  Bytes raw_;
};

class Http1 {
 public:
  friend class ClaimedExchange;
  Http1(Conn& conn, const Http1Options& o)
      : conn_(conn), plain_(o.plain_on_tls_port), buffer_(kHeaderBufferSize), claims_(o.claims) {
    header_deadline_ = o.header_deadline;
    buffer_.last = std::min(o.first_bytes.size(), buffer_.data.size());
    if (buffer_.last > 0) std::memcpy(buffer_.data.data(), o.first_bytes.data(), buffer_.last);
  }

  asio::awaitable<void> run() {
    // ngx_http_wait_request_handler: the first read, unless the caller made it.
    if (buffer_.last == 0) {
      auto r = co_await conn_.recv(buffer_.data, *header_deadline_);
      if (r.status != ReadStatus::data) {
        // Timed out waiting, or the peer ended or failed: nginx closes (close_notify only if the
        // peer's TLS is still up and nothing failed).
        conn_.close(r.status != ReadStatus::timed_out);
        co_return;
      }
      buffer_.last = r.n;
    }
    for (;;) {
      auto after = co_await one_request();
      if (after == After::keepalive) {
        if (!co_await keepalive()) co_return;
        continue;
      }
      if (after == After::lingering) {
        co_await conn_.lingering_close(kLingeringTimeout, kLingeringTime);
      } else {
        conn_.close(after == After::close_quietly);
      }
      co_return;
    }
  }

 private:
  // --- reading the request head ---

  enum class Read { data, timed_out, failed };

  Clock::time_point deadline() {
    if (!header_deadline_) header_deadline_ = Clock::now() + kClientHeaderTimeout;
    return *header_deadline_;
  }

  // ngx_http_read_request_header
  asio::awaitable<Read> read_head() {
    if (header_in_->last > header_in_->pos) co_return Read::data;
    auto r = co_await conn_.recv(std::span(header_in_->data).subspan(header_in_->last), deadline());
    if (r.status == ReadStatus::timed_out) co_return Read::timed_out;
    if (r.status != ReadStatus::data) co_return Read::failed;
    header_in_->last += r.n;
    co_return Read::data;
  }

  // ngx_http_alloc_large_header_buffer: false when declined (the line is too long).
  bool alloc_large(bool request_line) {
    if (request_line && line_.state == 0) {  // the buffer filled up with empty lines
      header_in_->pos = header_in_->last = 0;
      return true;
    }
    std::size_t old = request_line ? line_.request_start : header_.name_start;
    int state = request_line ? line_.state : header_.state;
    if (state != 0 && header_in_->pos - old >= kLargeBufferSize) return false;
    if (static_cast<int>(large_.size()) >= kLargeBuffers) return false;
    large_.push_back(std::make_unique<Buffer>(kLargeBufferSize));
    Buffer* b = large_.back().get();
    if (state == 0) {
      header_in_ = b;
      return true;
    }
    std::size_t n = header_in_->pos - old;
    std::memcpy(b->data.data(), header_in_->data.data() + old, n);
    b->pos = b->last = n;
    if (request_line) {
      line_.relocate(old);
    } else {
      header_.relocate(old);
    }
    header_in_ = b;
    return true;
  }

  std::string_view text(std::size_t from, std::size_t to) const {
    return {reinterpret_cast<const char*>(header_in_->data.data()) + from, to - from};
  }

  // --- one request ---

  asio::awaitable<After> one_request() {
    line_ = {};
    header_ = {};
    facts_ = {};
    host_seen_ = false;
    connection_type_ = 0;
    content_length_ = -1;
    content_length_text_.reset();
    transfer_encoding_.reset();
    expect_.reset();
    unique_seen_.clear();
    lingering_ = false;
    keepalive_ = false;  // set by the handler; errors before it close the connection
    chunked_ = false;
    user_agent_seen_ = range_seen_ = ae_seen_ = false;
    ++requests_;
    if (!header_in_) header_in_ = large_.empty() ? &buffer_ : large_.back().get();

    // the request line
    ParseResult rc = ParseResult::again;
    for (;;) {
      if (rc == ParseResult::again) {
        auto read = co_await read_head();
        if (read == Read::timed_out) co_return After::close_quietly;  // 408, nothing sent
        if (read == Read::failed) co_return After::close_quietly;     // c->error
      }
      rc = line_.parse(header_in_->data.data(), header_in_->pos, header_in_->last);
      if (rc == ParseResult::ok) break;
      if (rc != ParseResult::again) {
        facts_.http_version = 1000;  // an unparsed request line answers as HTTP/1.0
        co_return co_await finalize(rc == ParseResult::invalid_version ? 505 : 400);
      }
      if (header_in_->full() && !alloc_large(true)) co_return co_await finalize(414);
    }
    facts_.method = line_.method;
    facts_.http_version = line_.http_version();
    // the URI
    std::size_t path_end = line_.args_start != kNone ? line_.args_start - 1 : line_.uri_end;
    if (line_.complex_uri || line_.quoted_uri || line_.empty_path_in_uri) {
      // An absolute URI without a path ("http://host?a") gets the "/" nginx puts in front.
      std::string raw = line_.empty_path_in_uri ? "/" : "";
      raw += text(line_.uri_start, line_.uri_end);
      if (!normalize_uri(raw, facts_.uri)) co_return co_await finalize(400);
    } else {
      facts_.uri = std::string(text(line_.uri_start, path_end));
    }
    if (line_.host_end != kNone) {
      std::string host;
      if (!validate_host(text(line_.host_start, line_.host_end), host)) co_return co_await finalize(400);
    }
    if (facts_.http_version < 1000) co_return co_await process_request();

    // the headers
    rc = ParseResult::again;
    for (;;) {
      if (rc == ParseResult::again) {
        if (header_in_->full() && !alloc_large(false)) {
          lingering_ = true;
          co_return co_await finalize(494);
        }
        auto read = co_await read_head();
        if (read == Read::timed_out) co_return After::close_quietly;
        if (read == Read::failed) co_return After::close_quietly;
      }
      rc = header_.parse(header_in_->data.data(), header_in_->pos, header_in_->last);
      if (rc == ParseResult::ok) {
        if (header_.invalid_header) continue;  // ignore_invalid_headers
        auto status = on_header(lower(text(header_.name_start, header_.name_end)),
                                std::string(text(header_.value_start, header_.value_end)));
        if (status != 0) co_return co_await finalize(status);
        continue;
      }
      if (rc == ParseResult::header_done) break;
      if (rc == ParseResult::again) continue;
      co_return co_await finalize(400);
    }
    // ngx_http_process_request_header
    if (!host_seen_ && facts_.http_version > 1000) co_return co_await finalize(400);
    if (content_length_text_) {
      long long v = 0;
      bool ok = !content_length_text_->empty();
      for (char c : *content_length_text_) {
        if (c < '0' || c > '9' || v > (0x7fffffffffffffffLL - 9) / 10) {
          ok = false;
          break;
        }
        v = v * 10 + (c - '0');
      }
      if (!ok) co_return co_await finalize(400);
      content_length_ = v;
    }
    if (transfer_encoding_) {
      if (facts_.http_version < 1001) co_return co_await finalize(400);
      if (lower(*transfer_encoding_) == "chunked") {
        if (content_length_text_) co_return co_await finalize(400);
        chunked_ = true;
      } else {
        co_return co_await finalize(501);
      }
    }
    if (facts_.method == Method::connect || facts_.method == Method::trace) co_return co_await finalize(405);
    co_return co_await process_request();
  }

  // The handlers nginx runs while reading headers; a status to answer with, or 0.
  int on_header(const std::string& name, std::string value) {
    static const char* unique[] = {
        "if-modified-since", "if-unmodified-since", "if-match", "if-none-match", "content-length", "content-range",
        "if-range",          "transfer-encoding",   "expect",   "authorization"};
    if (name == "host") {
      if (host_seen_) return 400;
      host_seen_ = true;
      std::string host;
      if (!validate_host(value, host)) return 400;
      return 0;
    }
    for (const char* u : unique) {
      if (name != u) continue;
      if (unique_seen_.find(name + "\n") != std::string::npos) return 400;
      unique_seen_ += name + "\n";
      if (name == "if-modified-since") facts_.if_modified_since = value;
      if (name == "if-unmodified-since") facts_.if_unmodified_since = value;
      if (name == "if-match") facts_.if_match = value;
      if (name == "if-none-match") facts_.if_none_match = value;
      if (name == "content-length") content_length_text_ = value;
      if (name == "if-range") facts_.if_range = value;
      if (name == "transfer-encoding") transfer_encoding_ = value;
      if (name == "expect") expect_ = value;
      return 0;
    }
    if (name == "connection") {
      if (contains_nocase(value, "close")) {
        connection_type_ = 1;
      } else if (contains_nocase(value, "keep-alive")) {
        connection_type_ = 2;
      }
    } else if (name == "user-agent" && !user_agent_seen_) {
      user_agent_seen_ = true;
      note_user_agent(value);
    } else if (name == "range" && !range_seen_) {
      range_seen_ = true;
      facts_.range = value;
    } else if (name == "accept-encoding" && !ae_seen_) {
      ae_seen_ = true;
      facts_.accept_encoding = value;
    } else if (name == "via") {
      facts_.via = true;
    }
    return 0;
  }

  // ngx_http_process_user_agent
  void note_user_agent(std::string_view ua) {
    auto msie = ua.find("MSIE ");
    if (msie != std::string_view::npos && msie + 7 < ua.size()) {
      facts_.msie = true;
      if (ua[msie + 6] == '.') {
        char v = ua[msie + 5];
        if (v == '4' || v == '5') facts_.msie6 = true;
        if (v == '6' && ua.find("SV1", msie + 8) == std::string_view::npos) facts_.msie6 = true;
      }
    }
    bool opera = ua.find("Opera") != std::string_view::npos;
    if (opera) facts_.msie = facts_.msie6 = false;
    if (!facts_.msie && !opera && ua.find("Gecko/") == std::string_view::npos &&
        ua.find("Chrome/") != std::string_view::npos)
      facts_.chrome = true;
  }

  // ngx_http_process_request and ngx_http_handler
  asio::awaitable<After> process_request() {
    if (plain_) co_return co_await finalize(497);
    header_deadline_.reset();
    if (connection_type_ == 0) {
      keepalive_ = facts_.http_version > 1000;
    } else {
      keepalive_ = connection_type_ == 2;
    }
    lingering_ = content_length_ > 0 || chunked_;
    if (keepalive_ && (requests_ >= kKeepaliveRequests || (facts_.msie6 && facts_.method == Method::post)))
      keepalive_ = false;
    const Claim* claim = plain_ ? nullptr : find_claim(claims_, facts_.uri);
    if (claim && claim->answer) {
      ClaimedRequest request{method_name(facts_.method), facts_.uri, facts_.http_version, std::nullopt, chunked_};
      if (content_length_ >= 0) request.content_length = content_length_;
      if (auto answer = claim->answer(request); answer && content_length_ <= kClientMaxBodySize) {
        discard_body();
        co_return co_await respond(*answer);
      }
    } else if (claim && claim->handle) {
      ClaimedRequest request{method_name(facts_.method), facts_.uri, facts_.http_version, std::nullopt, chunked_};
      if (content_length_ >= 0) request.content_length = content_length_;
      ClaimedExchange exchange(*this, std::move(request));
      auto handled = co_await claim->handle(exchange);
      if (handled == Handled::failed) co_return After::close_quietly;
      if (handled == Handled::answered) {
        if (!exchange.body_done()) keepalive_ = false;
        if (keepalive_) co_return After::keepalive;
        co_return (header_in_->pos < header_in_->last || conn_.ready()) ? After::lingering : After::close;
      }
      // Not the claimant's after all: the cover answers, and what was read of the body is gone.
      if (exchange.body_done()) {
        content_length_ = 0;
        chunked_ = false;
        lingering_ = false;
      } else if (chunked_) {
        keepalive_ = false;
      }
    }
    if (content_length_ > kClientMaxBodySize) {
      discard_body();
      co_return co_await finalize(413);
    }
    Response response = static_response(facts_);
    if (response.status >= 400) co_return co_await finalize(response.status, std::move(response));
    // The static module discards the body, then answers (100-continue first if asked).
    if (expect_ && facts_.http_version >= 1001 && lower(*expect_) == "100-continue") {
      static const std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      co_await conn_.send(as_bytes(kContinue));
    }
    discard_body();
    co_return co_await respond(response);
  }

  // ngx_http_discard_request_body: the body bytes already read are dropped, then whatever the
  // socket has now; the rest is dropped as it arrives, after the answer.
  void discard_body() {
    if (chunked_) {
      // A chunked body is not parsed here: the connection will not be reused for it.
      keepalive_ = false;
      return;
    }
    if (content_length_ <= 0) return;
    std::size_t have = header_in_->last - header_in_->pos;
    std::size_t take = std::min<std::size_t>(have, static_cast<std::size_t>(content_length_));
    header_in_->pos += take;
    body_left_ = static_cast<std::size_t>(content_length_) - take;
    std::uint8_t scratch[4096];
    while (body_left_ > 0 && conn_.ready()) {
      auto r = conn_.recv_now(std::span(scratch, std::min(sizeof scratch, body_left_)));
      if (r.status != ReadStatus::data || r.n == 0) break;
      body_left_ -= r.n;
    }
    if (body_left_ == 0) lingering_ = false;
  }

  // ngx_http_special_response_handler, then ngx_http_finalize_connection.
  asio::awaitable<After> finalize(int status, std::optional<Response> prepared = std::nullopt) {
    switch (status) {
      case 400:
      case 413:
      case 414:
      case 497:
      case 500:
      case 501:
        keepalive_ = false;
    }
    if (status == 400 || status == 497) lingering_ = false;
    if (status == 505) keepalive_ = false;  // the request line never parsed: no keep-alive
    if (status != 413) discard_body();
    Response response = prepared ? std::move(*prepared) : special_response(status, facts_);
    co_return co_await respond(response);
  }

  asio::awaitable<After> respond(const Response& response) {
    auto bytes = serialize_http1(response, facts_.http_version, keepalive_, http_date(std::time(nullptr)));
    if (!co_await conn_.send(as_bytes(bytes))) co_return After::close_quietly;
    if (body_left_ > 0) {
      // The rest of the body is discarded as it comes (lingering_timeout between reads).
      std::uint8_t scratch[4096];
      while (body_left_ > 0) {
        auto r = co_await conn_.recv(std::span(scratch, std::min(sizeof scratch, body_left_)),
                                     Clock::now() + kLingeringTimeout);
        if (r.status != ReadStatus::data) co_return After::close_quietly;
        body_left_ -= r.n;
      }
      lingering_ = false;
    }
    if (keepalive_) co_return After::keepalive;
    if (lingering_ || header_in_->pos < header_in_->last || conn_.ready()) co_return After::lingering;
    co_return After::close;
  }

  // ngx_http_set_keepalive and ngx_http_keepalive_handler: false once the connection is closed.
  asio::awaitable<bool> keepalive() {
    if (header_in_->pos < header_in_->last) {
      // A pipelined request: parse it from where it is.
      if (header_in_ != &buffer_) {
        std::unique_ptr<Buffer> keep;
        for (auto& b : large_)
          if (b.get() == header_in_) keep = std::move(b);
        large_.clear();
        large_.push_back(std::move(keep));
      }
      header_deadline_.reset();
      co_return true;
    }
    large_.clear();
    header_in_ = &buffer_;
    buffer_.pos = buffer_.last = 0;
    auto r = co_await conn_.recv(buffer_.data, Clock::now() + kKeepaliveTimeout);
    if (r.status != ReadStatus::data) {
      conn_.close(r.status != ReadStatus::timed_out);
      co_return false;
    }
    buffer_.last = r.n;
    header_deadline_.reset();
    co_return true;
  }

  Conn& conn_;
  bool plain_;
  Buffer buffer_;
  std::vector<Claim> claims_;
  std::vector<std::unique_ptr<Buffer>> large_;
  Buffer* header_in_ = nullptr;
  std::optional<Clock::time_point> header_deadline_;
  int requests_ = 0;

  RequestLineParser line_;
  HeaderLineParser header_;
  RequestFacts facts_;
  bool host_seen_ = false, user_agent_seen_ = false, range_seen_ = false, ae_seen_ = false;
  int connection_type_ = 0;  // 1 close, 2 keep-alive
  long long content_length_ = -1;
  bool chunked_ = false;
  std::optional<std::string> content_length_text_, transfer_encoding_, expect_;
  std::string unique_seen_;
  bool keepalive_ = false, lingering_ = false;
  std::size_t body_left_ = 0;
};

asio::awaitable<Result<std::size_t>> ClaimedExchange::read_body(std::span<std::uint8_t> into,
                                                                std::chrono::milliseconds timeout) {
  Buffer& in = *http_.header_in_;
  if (!request_.chunked) {
    if (left_ <= 0 || into.empty()) co_return std::size_t{0};
    std::size_t want = static_cast<std::size_t>(std::min<long long>(left_, static_cast<long long>(into.size())));
    if (in.pos < in.last) {
      std::size_t n = std::min(want, in.last - in.pos);
      std::memcpy(into.data(), in.data.data() + in.pos, n);
      in.pos += n;
      left_ -= static_cast<long long>(n);
      co_return n;
    }
    auto r = co_await http_.conn_.recv(into.first(want), Clock::now() + timeout);
    if (r.status != ReadStatus::data || r.n == 0) co_return fail(Errc::truncated);
    left_ -= static_cast<long long>(r.n);
    co_return r.n;
  }
  for (;;) {
    if (decoded_pos_ < decoded_.size()) {
      std::size_t n = std::min(into.size(), decoded_.size() - decoded_pos_);
      std::memcpy(into.data(), decoded_.data() + decoded_pos_, n);
      decoded_pos_ += n;
      if (decoded_pos_ == decoded_.size()) {
        decoded_.clear();
        decoded_pos_ = 0;
      }
      co_return n;
    }
    if (decoder_.done()) co_return std::size_t{0};
    if (in.pos < in.last) {
      // Bytes already read after the headers; what the body does not use stays for the next request.
      auto used = decoder_.feed(ByteSpan(in.data.data() + in.pos, in.last - in.pos), decoded_);
      if (!used) co_return fail(used.error());
      in.pos += *used;
      continue;
    }
    raw_.resize(16384);
    auto r = co_await http_.conn_.recv(raw_, Clock::now() + timeout);
    if (r.status != ReadStatus::data || r.n == 0) co_return fail(Errc::truncated);
    auto used = decoder_.feed(ByteSpan(raw_.data(), r.n), decoded_);
    if (!used) co_return fail(used.error());
    if (*used < r.n) http_.keepalive_ = false;  // bytes past the body: not worth keeping for a next request
  }
}

std::string ClaimedExchange::head(std::string_view extra) const {
  std::string h = "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: " + http_date(std::time(nullptr)) +
                  "\r\nContent-Type: application/octet-stream\r\n";
  h += extra;
  h += "\r\n";
  return h;
}

asio::awaitable<bool> ClaimedExchange::respond(ByteSpan body) {
  std::string extra = "Content-Length: " + std::to_string(body.size()) +
                      "\r\nConnection: " + (http_.keepalive_ ? "keep-alive" : "close") +
                      "\r\nCache-Control: no-store\r\n";
  std::string h = head(extra);
  Bytes out(h.begin(), h.end());
  out.insert(out.end(), body.begin(), body.end());
  co_return co_await http_.conn_.send(out);
}

asio::awaitable<bool> ClaimedExchange::stream_begin() {
  // An HTTP/1.0 request (nginx's default towards its upstreams) gets a body that ends with the
  // connection; HTTP/1.1 a chunked one. No buffering, please (nginx honours the header).
  bool chunked = request_.http_version >= 1001;
  if (!chunked) http_.keepalive_ = false;
  std::string extra = chunked ? "Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n" : "Connection: close\r\n";
  extra += "Cache-Control: no-store\r\nX-Accel-Buffering: no\r\n";
  std::string h = head(extra);
  co_return co_await http_.conn_.send(as_bytes(h));
}

asio::awaitable<bool> ClaimedExchange::stream(ByteSpan bytes) {
  if (bytes.empty()) co_return true;
  if (request_.http_version < 1001) co_return co_await http_.conn_.send(bytes);
  char size[20];
  int n = std::snprintf(size, sizeof size, "%zx\r\n", bytes.size());
  Bytes out(size, size + n);
  out.insert(out.end(), bytes.begin(), bytes.end());
  out.push_back('\r');
  out.push_back('\n');
  co_return co_await http_.conn_.send(out);
}

asio::awaitable<bool> ClaimedExchange::stream_end() {
  if (request_.http_version < 1001) co_return true;
  co_return co_await http_.conn_.send(as_bytes("0\r\n\r\n"));
}

}  // namespace

asio::awaitable<void> serve_http1(Conn& conn, Http1Options options) {
  Http1 http(conn, options);
  co_await http.run();
}

}  // namespace culvert::cover
