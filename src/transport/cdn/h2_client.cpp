#include "transport/cdn/h2_client.h"

#include <asio/experimental/awaitable_operators.hpp>
#include <cstring>

#include "core/await.h"

namespace culvert::cdn {
namespace {

constexpr std::size_t kReadSize = 64 * 1024;
// The connection window Chromium asks for: 15 MiB (65535 + 15663105).
constexpr std::int32_t kConnectionWindow = 15728640;

}  // namespace

// --- H2Request ---

asio::awaitable<Result<int>> H2Request::status() {
  while (!headers_done_ && !closed_) co_await signal_.wait();
  if (headers_done_) co_return status_;
  co_return culvert::fail(error_ ? error_ : make_error_code(Errc::tunnel_closed));
}

asio::awaitable<IoResult> H2Request::read_some(asio::mutable_buffer buffer) {
  for (;;) {
    if (in_pos_ < in_.size()) {
      std::size_t n = std::min(buffer.size(), in_.size() - in_pos_);
      std::memcpy(buffer.data(), in_.data() + in_pos_, n);
      in_pos_ += n;
      if (in_pos_ == in_.size()) {
        in_.clear();
        in_pos_ = 0;
      }
      co_return IoResult{std::error_code{}, n};
    }
    if (ended_) co_return IoResult{asio::error::eof, 0};
    if (closed_) co_return IoResult{error_ ? error_ : make_error_code(Errc::tunnel_closed), 0};
    co_await signal_.wait();
  }
}

void H2Request::write(ByteSpan bytes) {
  if (closed_ || finished_) return;
  if (out_pos_ > 0 && out_pos_ == out_.size()) {
    out_.clear();
    out_pos_ = 0;
  }
  out_.insert(out_.end(), bytes.begin(), bytes.end());
  if (client_ && client_->session_) {
    nghttp2_session_resume_data(client_->session_, stream_id_);
    client_->wake_writer();
  }
}

void H2Request::finish() {
  if (finished_) return;
  finished_ = true;
  if (client_ && client_->session_ && !closed_) {
    nghttp2_session_resume_data(client_->session_, stream_id_);
    client_->wake_writer();
  }
}

void H2Request::cancel() {
  if (closed_) return;
  if (client_ && client_->session_) {
    nghttp2_submit_rst_stream(client_->session_, NGHTTP2_FLAG_NONE, stream_id_, NGHTTP2_CANCEL);
    client_->wake_writer();
  }
  fail(make_error_code(Errc::stream_reset));
}

void H2Request::fail(std::error_code ec) {
  if (closed_) return;
  closed_ = true;
  if (!error_) error_ = ec;
  signal_.notify();
}

// --- H2Client ---

H2Client::H2Client(asio::any_io_executor executor, ByteStreamPtr stream)
    : executor_(std::move(executor)), stream_(std::move(stream)), want_write_(executor_) {
  nghttp2_session_callbacks* cb = nullptr;
  nghttp2_session_callbacks_new(&cb);
  nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
  nghttp2_session_client_new(&session_, cb, this);
  nghttp2_session_callbacks_del(cb);
  // Chromium's connection preface, in its order.
  nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, 65536},
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 6291456},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, 262144},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, kConnectionWindow);
}

H2Client::~H2Client() {
  end(make_error_code(Errc::tunnel_closed));
  nghttp2_session_del(session_);
}

void H2Client::close() {
  if (!open_) return;
  stream_->close();
  end(make_error_code(Errc::tunnel_closed));
}

void H2Client::end(std::error_code ec) {
  open_ = false;
  auto requests = std::move(requests_);
  requests_.clear();
  for (auto& [id, r] : requests) {
    r->client_ = nullptr;
    r->fail(ec);
  }
  want_write_.notify();
}

H2Request* H2Client::find(std::int32_t stream_id) {
  auto it = requests_.find(stream_id);
  return it == requests_.end() ? nullptr : it->second.get();
}

std::shared_ptr<H2Request> H2Client::submit(const std::vector<HeaderField>& headers, Bytes body, bool streaming,
                                            int weight) {
  auto request = std::make_shared<H2Request>(executor_);
  if (!accepting()) {
    request->fail(make_error_code(Errc::tunnel_closed));
    return request;
  }
  std::vector<nghttp2_nv> nva;
  nva.reserve(headers.size());
  for (const auto& h : headers)
    nva.push_back({reinterpret_cast<std::uint8_t*>(const_cast<char*>(h.name.data())),
                   reinterpret_cast<std::uint8_t*>(const_cast<char*>(h.value.data())), h.name.size(), h.value.size(),
                   NGHTTP2_NV_FLAG_NONE});
  nghttp2_priority_spec priority;
  nghttp2_priority_spec_init(&priority, 0, weight, 1);
  request->streaming_ = streaming;
  request->out_ = std::move(body);
  request->finished_ = !streaming;
  nghttp2_data_provider provider{};
  provider.read_callback = read_body;
  bool has_body = streaming || !request->out_.empty();
  std::int32_t id =
      nghttp2_submit_request(session_, &priority, nva.data(), nva.size(), has_body ? &provider : nullptr, nullptr);
  if (id < 0) {
    request->fail(make_error_code(Errc::protocol_violation));
    return request;
  }
  request->client_ = this;
  request->stream_id_ = id;
  requests_[id] = request;
  wake_writer();
  return request;
}

ssize_t H2Client::read_body(nghttp2_session*, std::int32_t stream_id, std::uint8_t* buf, std::size_t length,
                            std::uint32_t* flags, nghttp2_data_source*, void* user) {
  auto* self = static_cast<H2Client*>(user);
  H2Request* r = self->find(stream_id);
  if (!r) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  std::size_t n = std::min(length, r->out_.size() - r->out_pos_);
  if (n > 0) std::memcpy(buf, r->out_.data() + r->out_pos_, n);
  r->out_pos_ += n;
  if (r->out_pos_ == r->out_.size()) {
    r->out_.clear();
    r->out_pos_ = 0;
    if (r->finished_) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
    } else if (n == 0) {
      return NGHTTP2_ERR_DEFERRED;
    }
  }
  return static_cast<ssize_t>(n);
}

int H2Client::on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t namelen,
                        const std::uint8_t* value, std::size_t valuelen, std::uint8_t, void* user) {
  auto* self = static_cast<H2Client*>(user);
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  H2Request* r = self->find(frame->hd.stream_id);
  if (!r) return 0;
  std::string_view field(reinterpret_cast<const char*>(name), namelen);
  if (field == ":status") {
    int status = 0;
    for (std::size_t i = 0; i < valuelen; ++i) status = status * 10 + (value[i] - '0');
    // 1xx answers are interim: the final status comes with the next HEADERS.
    if (status >= 200) r->status_ = status;
  } else if (r->status_ != 0 && r->headers_.size() < 100) {
    r->headers_.push_back({std::string(field), std::string(reinterpret_cast<const char*>(value), valuelen)});
  }
  return 0;
}

int H2Client::on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  auto* self = static_cast<H2Client*>(user);
  if (frame->hd.type == NGHTTP2_GOAWAY) self->going_away_ = true;
  H2Request* r = self->find(frame->hd.stream_id);
  if (!r) return 0;
  if (frame->hd.type == NGHTTP2_HEADERS && r->status_ != 0 && !r->headers_done_) {
    r->headers_done_ = true;
    r->signal_.notify();
  }
  if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
      (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
    r->ended_ = true;
    r->signal_.notify();
  }
  return 0;
}

int H2Client::on_data_chunk(nghttp2_session*, std::uint8_t, std::int32_t stream_id, const std::uint8_t* data,
                            std::size_t len, void* user) {
  auto* self = static_cast<H2Client*>(user);
  H2Request* r = self->find(stream_id);
  if (!r) return 0;
  r->in_.insert(r->in_.end(), data, data + len);
  r->signal_.notify();
  return 0;
}

int H2Client::on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t error_code, void* user) {
  auto* self = static_cast<H2Client*>(user);
  auto it = self->requests_.find(stream_id);
  if (it == self->requests_.end()) return 0;
  auto r = it->second;
  self->requests_.erase(it);
  r->client_ = nullptr;
  if (!r->ended_ || error_code != NGHTTP2_NO_ERROR) {
    r->fail(make_error_code(Errc::stream_reset));
  } else {
    r->closed_ = true;
    r->signal_.notify();
  }
  return 0;
}

asio::awaitable<void> H2Client::read_loop() {
  Bytes buffer(kReadSize);
  while (open_) {
    auto [ec, n] = co_await stream_->read_some(asio::buffer(buffer));
    if (ec || !open_) break;
    if (nghttp2_session_mem_recv(session_, buffer.data(), n) < 0) break;
    wake_writer();
  }
  end(make_error_code(Errc::tunnel_closed));
}

asio::awaitable<void> H2Client::write_loop() {
  Bytes batch;
  while (open_) {
    batch.clear();
    for (;;) {
      const std::uint8_t* data = nullptr;
      ssize_t n = nghttp2_session_mem_send(session_, &data);
      if (n < 0) {
        end(make_error_code(Errc::protocol_violation));
        co_return;
      }
      if (n == 0) break;
      batch.insert(batch.end(), data, data + n);
      if (batch.size() >= kReadSize) break;
    }
    if (!batch.empty()) {
      if (auto ec = co_await stream_->write_all(asio::buffer(batch))) {
        end(ec);
        co_return;
      }
      continue;
    }
    if (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_)) {
      end(make_error_code(Errc::tunnel_closed));
      co_return;
    }
    co_await want_write_.wait();
  }
}

asio::awaitable<void> H2Client::run() {
  using namespace asio::experimental::awaitable_operators;
  co_await (read_loop() || write_loop());
  stream_->close();
  end(make_error_code(Errc::tunnel_closed));
}

std::vector<HeaderField> chromium_fetch_headers(const std::string& method, const std::string& authority,
                                                const std::string& path, std::optional<std::size_t> content_length) {
  // Chromium 156 on Linux, fetch() from a page of the same origin (lab/data/h2/chromium-156-fetch.txt).
  static const std::string kUserAgent =
      "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
  static const std::string kBrands = R"("Not:A-Brand";v="8", "Chromium";v="156")";
  std::vector<HeaderField> h = {{":method", method}, {":authority", authority}, {":scheme", "https"}, {":path", path}};
  bool post = method == "POST";
  if (content_length) h.push_back({"content-length", std::to_string(*content_length)});
  h.push_back({"sec-ch-ua-platform", "\"Linux\""});
  h.push_back({"user-agent", kUserAgent});
  h.push_back({"sec-ch-ua", kBrands});
  if (post) h.push_back({"content-type", "application/octet-stream"});
  h.push_back({"sec-ch-ua-mobile", "?0"});
  h.push_back({"accept", "*/*"});
  if (post) h.push_back({"origin", "https://" + authority});
  h.push_back({"sec-fetch-site", "same-origin"});
  h.push_back({"sec-fetch-mode", "cors"});
  h.push_back({"sec-fetch-dest", "empty"});
  h.push_back({"referer", "https://" + authority + "/"});
  h.push_back({"accept-encoding", "gzip, deflate, br, zstd"});
  h.push_back({"accept-language", "en-US,en;q=0.9"});
  h.push_back({"priority", "u=1, i"});
  return h;
}

}  // namespace culvert::cdn
