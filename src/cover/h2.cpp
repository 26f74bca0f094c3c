#include "cover/h2.h"

#include <nghttp2/nghttp2.h>

#include <ctime>
#include <map>
#include <memory>
#include <string>

#include "cover/header_request.h"
#include "cover/request_parser.h"
#include "cover/response.h"

namespace culvert::cover {
namespace {

constexpr std::uint8_t kPreface[40] = {
    0x00, 0x00, 0x12, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00,  // SETTINGS, 3 settings
    0x00, 0x03, 0x00, 0x00, 0x00, 0x80,                    // MAX_CONCURRENT_STREAMS 128
    0x00, 0x04, 0x00, 0x01, 0x00, 0x00,                    // INITIAL_WINDOW_SIZE 65536
    0x00, 0x05, 0x00, 0xff, 0xff, 0xff,                    // MAX_FRAME_SIZE 16777215
    0x00, 0x00, 0x04, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00,  // WINDOW_UPDATE, stream 0
    0x7f, 0xff, 0x00, 0x00,                                // +2147418112
};

struct Stream {
  HeaderRequest request;
  bool answered = false;
  std::string body;  // the answer's body, served by the data source
  std::size_t sent = 0;
};

// Drops the debug data of GOAWAY frames: nginx never sends any, nghttp2 sometimes does.
void strip_goaway_debug(Bytes& out) {
  Bytes fixed;
  std::size_t pos = 0;
  while (pos + 9 <= out.size()) {
    std::size_t len = static_cast<std::size_t>(out[pos] << 16 | out[pos + 1] << 8 | out[pos + 2]);
    if (pos + 9 + len > out.size()) break;
    if (out[pos + 3] == 0x7 && len > 8) {
      fixed.insert(fixed.end(), {0, 0, 8});
      fixed.insert(fixed.end(), out.begin() + static_cast<long>(pos) + 3, out.begin() + static_cast<long>(pos) + 17);
    } else {
      fixed.insert(fixed.end(), out.begin() + static_cast<long>(pos), out.begin() + static_cast<long>(pos + 9 + len));
    }
    pos += 9 + len;
  }
  fixed.insert(fixed.end(), out.begin() + static_cast<long>(pos), out.end());
  out = std::move(fixed);
}

class H2 {
 public:
  explicit H2(Conn& conn) : conn_(conn) {
    nghttp2_session_callbacks* cb = nullptr;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    nghttp2_option* option = nullptr;
    nghttp2_option_new(&option);
    // nginx keeps no stream history for priorities.
    nghttp2_option_set_no_closed_streams(option, 1);
    nghttp2_session_server_new2(&session_, cb, this, option);
    nghttp2_option_del(option);
    nghttp2_session_callbacks_del(cb);
    nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 128},
                                         {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 65536},
                                         {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, 16777215}};
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, 3);
    nghttp2_submit_window_update(session_, NGHTTP2_FLAG_NONE, 0, 2147418112);
  }
  ~H2() { nghttp2_session_del(session_); }

  asio::awaitable<void> run(H2Options o) {
    claims_ = o.claims;
    Bytes preface = pending();
    if (!o.preface_sent) out_ = std::move(preface);
    std::vector<std::uint8_t> buffer(kH2ReadSize);
    bool first = !o.first_bytes.empty();
    std::optional<Clock::time_point> deadline = o.header_deadline;
    for (;;) {
      ByteSpan input;
      if (first) {
        input = o.first_bytes;
        first = false;
      } else {
        // nginx sends what it has queued once a read finds nothing more.
        if (!co_await flush()) co_return conn_.close(true);
        if (goaway_sent_ && streams_.empty()) {
          co_return co_await conn_.lingering_close(std::chrono::seconds(5), std::chrono::seconds(30));
        }
        auto limit = deadline.value_or(Clock::now() + std::chrono::seconds(75));
        auto r = co_await conn_.recv(buffer, limit);
        if (r.status == ReadStatus::timed_out) {
          // Idle: GOAWAY NO_ERROR; inside an unfinished frame: PROTOCOL_ERROR.
          goaway(incomplete_ ? NGHTTP2_PROTOCOL_ERROR : NGHTTP2_NO_ERROR);
          if (!co_await flush()) co_return conn_.close(true);
          co_return co_await conn_.lingering_close(std::chrono::seconds(5), std::chrono::seconds(30));
        }
        if (r.status != ReadStatus::data) co_return conn_.close(true);
        input = ByteSpan(buffer.data(), r.n);
      }
      auto used = nghttp2_session_mem_recv(session_, input.data(), input.size());
      if (used < 0) {
        // A bad preface and other connection errors: GOAWAY PROTOCOL_ERROR, then the end.
        goaway(NGHTTP2_PROTOCOL_ERROR);
        if (!co_await flush()) co_return conn_.close(true);
        co_return co_await conn_.lingering_close(std::chrono::seconds(5), std::chrono::seconds(30));
      }
      received_ += input.size();
      incomplete_ = false;  // nghttp2 buffers partial frames itself; treat the connection as idle
      if (streams_seen_) deadline.reset();
      if (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_)) {
        if (!co_await flush()) co_return conn_.close(true);
        co_return co_await conn_.lingering_close(std::chrono::seconds(5), std::chrono::seconds(30));
      }
    }
  }

 private:
  Bytes pending() {
    Bytes out;
    for (;;) {
      const std::uint8_t* data = nullptr;
      auto n = nghttp2_session_mem_send(session_, &data);
      if (n <= 0) break;
      out.insert(out.end(), data, data + n);
    }
    strip_goaway_debug(out);
    return out;
  }

  asio::awaitable<bool> flush() {
    auto more = pending();
    out_.insert(out_.end(), more.begin(), more.end());
    if (out_.empty()) co_return true;
    Bytes send = std::move(out_);
    out_.clear();
    co_return co_await conn_.send(send);
  }

  void goaway(std::uint32_t code) {
    if (goaway_sent_) return;
    goaway_sent_ = true;
    nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(session_), code, nullptr,
                          0);
  }

  void answer(std::int32_t id, Stream& s) {
    if (s.answered) return;
    s.answered = true;
    Response response = answer_header_request(s.request, 2000, claims_);
    auto headers = h2_headers(response, http_date(std::time(nullptr)));
    std::vector<nghttp2_nv> nva;
    for (auto& [name, value] : headers) {
      nva.push_back({reinterpret_cast<std::uint8_t*>(name.data()), reinterpret_cast<std::uint8_t*>(value.data()),
                     name.size(), value.size(), NGHTTP2_NV_FLAG_NONE});
    }
    s.body = response.header_only ? std::string() : response.body;
    if (s.body.empty()) {
      nghttp2_submit_response(session_, id, nva.data(), nva.size(), nullptr);
      return;
    }
    nghttp2_data_provider provider{};
    provider.source.ptr = &s;
    provider.read_callback = read_body;
    nghttp2_submit_response(session_, id, nva.data(), nva.size(), &provider);
  }

  static ssize_t read_body(nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t length, std::uint32_t* flags,
                           nghttp2_data_source* source, void*) {
    auto* s = static_cast<Stream*>(source->ptr);
    std::size_t n = std::min(length, s->body.size() - s->sent);
    std::memcpy(buf, s->body.data() + s->sent, n);
    s->sent += n;
    if (s->sent == s->body.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }

  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* self) {
    auto* h = static_cast<H2*>(self);
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
      h->streams_[frame->hd.stream_id] = std::make_unique<Stream>();
      h->streams_seen_ = true;
    }
    return 0;
  }

  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t namelen,
                       const std::uint8_t* value, std::size_t valuelen, std::uint8_t, void* self) {
    auto* h = static_cast<H2*>(self);
    auto it = h->streams_.find(frame->hd.stream_id);
    if (it == h->streams_.end()) return 0;
    Stream& s = *it->second;
    s.request.add_header(std::string_view(reinterpret_cast<const char*>(name), namelen),
                         std::string_view(reinterpret_cast<const char*>(value), valuelen));
    return 0;
  }

  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* self) {
    auto* h = static_cast<H2*>(self);
    if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
      auto it = h->streams_.find(frame->hd.stream_id);
      if (it != h->streams_.end()) h->answer(frame->hd.stream_id, *it->second);
    }
    return 0;
  }

  static int on_stream_close(nghttp2_session*, std::int32_t id, std::uint32_t, void* self) {
    static_cast<H2*>(self)->streams_.erase(id);
    return 0;
  }

  Conn& conn_;
  std::vector<Claim> claims_;
  nghttp2_session* session_ = nullptr;
  std::map<std::int32_t, std::unique_ptr<Stream>> streams_;
  Bytes out_;
  bool goaway_sent_ = false;
  bool streams_seen_ = false;
  bool incomplete_ = false;
  std::size_t received_ = 0;
};

}  // namespace

ByteSpan h2_server_preface() { return ByteSpan(kPreface, sizeof kPreface); }

asio::awaitable<void> serve_h2(Conn& conn, H2Options options) {
  H2 h2(conn);
  co_await h2.run(options);
}

}  // namespace culvert::cover
