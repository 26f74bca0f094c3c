#include "quic/h3_cover.h"

#include <ctime>
#include <vector>

namespace culvert::quic {

H3Cover::H3Cover(ngtcp2_conn* conn) : conn_(conn) {}

H3Cover::~H3Cover() {
  if (h3_) nghttp3_conn_del(h3_);
}

Result<void> H3Cover::start() {
  nghttp3_callbacks callbacks{};
  callbacks.recv_header = recv_header;
  callbacks.end_stream = end_stream;
  callbacks.acked_stream_data = acked_stream_data;
  callbacks.stream_close = stream_close;
  callbacks.deferred_consume = deferred_consume;
  nghttp3_settings settings;
  nghttp3_settings_default(&settings);
  if (nghttp3_conn_server_new(&h3_, &callbacks, &settings, nullptr, this) != 0) return fail(Errc::protocol_violation);
  const ngtcp2_transport_params* local = ngtcp2_conn_get_local_transport_params(conn_);
  nghttp3_conn_set_max_client_streams_bidi(h3_, local->initial_max_streams_bidi);
  std::int64_t control = -1, encoder = -1, decoder = -1;
  if (ngtcp2_conn_open_uni_stream(conn_, &control, nullptr) != 0 ||
      ngtcp2_conn_open_uni_stream(conn_, &encoder, nullptr) != 0 ||
      ngtcp2_conn_open_uni_stream(conn_, &decoder, nullptr) != 0 ||
      nghttp3_conn_bind_control_stream(h3_, control) != 0 ||
      nghttp3_conn_bind_qpack_streams(h3_, encoder, decoder) != 0)
    return fail(Errc::protocol_violation);
  return {};
}

int H3Cover::on_stream_data(std::int64_t stream_id, ByteSpan data, bool fin) {
  if (!h3_) return 0;
  nghttp3_ssize consumed = nghttp3_conn_read_stream(h3_, stream_id, data.data(), data.size(), fin ? 1 : 0);
  if (consumed < 0) return NGTCP2_ERR_CALLBACK_FAILURE;  // an HTTP/3 error: the connection closes
  ngtcp2_conn_extend_max_stream_offset(conn_, stream_id, static_cast<std::uint64_t>(consumed));
  ngtcp2_conn_extend_max_offset(conn_, static_cast<std::uint64_t>(consumed));
  return 0;
}

int H3Cover::on_acked(std::int64_t stream_id, std::uint64_t length) {
  if (h3_ && nghttp3_conn_add_ack_offset(h3_, stream_id, length) != 0) return NGTCP2_ERR_CALLBACK_FAILURE;
  return 0;
}

int H3Cover::on_stream_close(std::int64_t stream_id, std::uint64_t app_error_code) {
  if (!h3_) return 0;
  int rv = nghttp3_conn_close_stream(h3_, stream_id, app_error_code);
  if (rv != 0 && rv != NGHTTP3_ERR_STREAM_NOT_FOUND) return NGTCP2_ERR_CALLBACK_FAILURE;
  if (ngtcp2_is_bidi_stream(stream_id)) ngtcp2_conn_extend_max_streams_bidi(conn_, 1);
  streams_.erase(stream_id);
  return 0;
}

int H3Cover::on_stream_reset(std::int64_t stream_id) {
  if (h3_ && nghttp3_conn_shutdown_stream_read(h3_, stream_id) != 0) return NGTCP2_ERR_CALLBACK_FAILURE;
  return 0;
}

int H3Cover::on_extend_max_stream_data(std::int64_t stream_id) {
  if (h3_ && nghttp3_conn_unblock_stream(h3_, stream_id) != 0) return NGTCP2_ERR_CALLBACK_FAILURE;
  return 0;
}

void H3Cover::on_extend_max_remote_bidi_streams(std::uint64_t max_streams) {
  if (h3_) nghttp3_conn_set_max_client_streams_bidi(h3_, max_streams);
}

ngtcp2_ssize H3Cover::write_packet(std::uint8_t* out, std::size_t length, ngtcp2_tstamp now) {
  for (;;) {
    std::int64_t stream_id = -1;
    int fin = 0;
    nghttp3_vec vec[16];
    nghttp3_ssize count = 0;
    if (h3_ && ngtcp2_conn_get_max_data_left(conn_) > 0) {
      count = nghttp3_conn_writev_stream(h3_, &stream_id, &fin, vec, 16);
      if (count < 0) return NGTCP2_ERR_CALLBACK_FAILURE;
    }
    ngtcp2_ssize written = -1;
    std::uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_MORE | (fin ? NGTCP2_WRITE_STREAM_FLAG_FIN : 0);
    ngtcp2_pkt_info info{};
    // nghttp3_vec and ngtcp2_vec have the same layout (base, len), as ngtcp2's own examples rely on.
    ngtcp2_ssize n =
        ngtcp2_conn_writev_stream(conn_, nullptr, &info, out, length, &written, flags, stream_id,
                                  reinterpret_cast<const ngtcp2_vec*>(vec), static_cast<std::size_t>(count), now);
    if (n < 0) {
      switch (n) {
        case NGTCP2_ERR_STREAM_DATA_BLOCKED:
          nghttp3_conn_block_stream(h3_, stream_id);
          continue;
        case NGTCP2_ERR_STREAM_SHUT_WR:
          nghttp3_conn_shutdown_stream_write(h3_, stream_id);
          continue;
        case NGTCP2_ERR_WRITE_MORE:
          if (nghttp3_conn_add_write_offset(h3_, stream_id, static_cast<std::size_t>(written)) != 0)
            return NGTCP2_ERR_CALLBACK_FAILURE;
          continue;
        default:
          return n;
      }
    }
    if (written >= 0 && h3_ && nghttp3_conn_add_write_offset(h3_, stream_id, static_cast<std::size_t>(written)) != 0)
      return NGTCP2_ERR_CALLBACK_FAILURE;
    return n;
  }
}

int H3Cover::recv_header(nghttp3_conn*, std::int64_t stream_id, std::int32_t, nghttp3_rcbuf* name, nghttp3_rcbuf* value,
                         std::uint8_t, void* self, void*) {
  auto* h = static_cast<H3Cover*>(self);
  auto& stream = h->streams_[stream_id];
  if (!stream) stream = std::make_unique<Stream>();
  nghttp3_vec n = nghttp3_rcbuf_get_buf(name), v = nghttp3_rcbuf_get_buf(value);
  stream->request.add_header(std::string_view(reinterpret_cast<const char*>(n.base), n.len),
                             std::string_view(reinterpret_cast<const char*>(v.base), v.len));
  return 0;
}

int H3Cover::end_stream(nghttp3_conn*, std::int64_t stream_id, void* self, void*) {
  auto* h = static_cast<H3Cover*>(self);
  auto& stream = h->streams_[stream_id];
  if (!stream) stream = std::make_unique<Stream>();
  return h->answer(stream_id, *stream);
}

int H3Cover::answer(std::int64_t stream_id, Stream& stream) {
  if (stream.answered) return 0;
  stream.answered = true;
  static const std::vector<cover::Claim> kNoClaims;
  cover::Response response = cover::answer_header_request(stream.request, 3000, kNoClaims);
  // HTTP/3 carries the same header list as HTTP/2: ":status" first, lower-case names.
  auto headers = cover::h2_headers(response, cover::http_date(std::time(nullptr)));
  std::vector<nghttp3_nv> nva;
  for (auto& [name, value] : headers)
    nva.push_back({reinterpret_cast<std::uint8_t*>(name.data()), reinterpret_cast<std::uint8_t*>(value.data()),
                   name.size(), value.size(), NGHTTP3_NV_FLAG_NONE});
  stream.body = response.header_only ? std::string() : std::move(response.body);
  nghttp3_data_reader reader{read_body};
  int rv =
      nghttp3_conn_submit_response(h3_, stream_id, nva.data(), nva.size(), stream.body.empty() ? nullptr : &reader);
  if (rv != 0) return NGHTTP3_ERR_CALLBACK_FAILURE;
  ++answered_;
  return 0;
}

nghttp3_ssize H3Cover::read_body(nghttp3_conn*, std::int64_t stream_id, nghttp3_vec* vec, std::size_t count,
                                 std::uint32_t* flags, void* self, void*) {
  auto* h = static_cast<H3Cover*>(self);
  auto it = h->streams_.find(stream_id);
  if (it == h->streams_.end() || count == 0) return NGHTTP3_ERR_CALLBACK_FAILURE;
  // The whole body at once; nghttp3 keeps sending from it until it is acknowledged.
  vec[0].base = reinterpret_cast<std::uint8_t*>(it->second->body.data());
  vec[0].len = it->second->body.size();
  *flags |= NGHTTP3_DATA_FLAG_EOF;
  return 1;
}

int H3Cover::acked_stream_data(nghttp3_conn*, std::int64_t, std::uint64_t, void*, void*) { return 0; }

int H3Cover::stream_close(nghttp3_conn*, std::int64_t, std::uint64_t, void*, void*) { return 0; }

int H3Cover::deferred_consume(nghttp3_conn*, std::int64_t stream_id, std::size_t consumed, void* self, void*) {
  auto* h = static_cast<H3Cover*>(self);
  ngtcp2_conn_extend_max_stream_offset(h->conn_, stream_id, consumed);
  ngtcp2_conn_extend_max_offset(h->conn_, consumed);
  return 0;
}

}  // namespace culvert::quic
