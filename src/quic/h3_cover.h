// The cover site over HTTP/3: libnghttp3 on one ngtcp2 server connection, answering every request
// as the cover's HTTP/2 face does (cover/header_request.h: nginx's pages, headers and errors), so
// a QUIC client that is not a Culvert user meets an ordinary site that also speaks HTTP/3.
// The connection's owner forwards ngtcp2's stream callbacks here and writes its packets through
// write_packet(), which interleaves nghttp3's stream data with ngtcp2's own frames.
// Thread model: the connection's, single-threaded.
#pragma once

#include <nghttp3/nghttp3.h>
#include <ngtcp2/ngtcp2.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "core/bytes.h"
#include "core/result.h"
#include "cover/header_request.h"

namespace culvert::quic {

class H3Cover {
 public:
  explicit H3Cover(ngtcp2_conn* conn);
  ~H3Cover();
  H3Cover(const H3Cover&) = delete;
  H3Cover& operator=(const H3Cover&) = delete;

  // Once the handshake is complete: opens the control and QPACK streams.
  Result<void> start();

  // Bodies of ngtcp2's callbacks; 0 or NGTCP2_ERR_CALLBACK_FAILURE.
  int on_stream_data(std::int64_t stream_id, ByteSpan data, bool fin);
  int on_acked(std::int64_t stream_id, std::uint64_t length);
  int on_stream_close(std::int64_t stream_id, std::uint64_t app_error_code);
  int on_stream_reset(std::int64_t stream_id);
  int on_extend_max_stream_data(std::int64_t stream_id);
  void on_extend_max_remote_bidi_streams(std::uint64_t max_streams);

  // One packet into `out`: stream data nghttp3 has to send, else whatever ngtcp2 has. The
  // packet's length, 0 when there is nothing to send, or a negative NGTCP2_ERR_* code.
  ngtcp2_ssize write_packet(std::uint8_t* out, std::size_t length, ngtcp2_tstamp now);

  std::size_t requests_answered() const { return answered_; }

 private:
  struct Stream {
    cover::HeaderRequest request;
    std::string body;  // kept until the stream closes: nghttp3 sends from it
    bool answered = false;
  };
  static int recv_header(nghttp3_conn*, std::int64_t stream_id, std::int32_t, nghttp3_rcbuf* name, nghttp3_rcbuf* value,
                         std::uint8_t, void* self, void*);
  static int end_stream(nghttp3_conn*, std::int64_t stream_id, void* self, void*);
  static int acked_stream_data(nghttp3_conn*, std::int64_t stream_id, std::uint64_t length, void* self, void*);
  static int stream_close(nghttp3_conn*, std::int64_t stream_id, std::uint64_t, void* self, void*);
  static int deferred_consume(nghttp3_conn*, std::int64_t stream_id, std::size_t consumed, void* self, void*);
  static nghttp3_ssize read_body(nghttp3_conn*, std::int64_t stream_id, nghttp3_vec* vec, std::size_t count,
                                 std::uint32_t* flags, void* self, void*);
  int answer(std::int64_t stream_id, Stream& stream);

  ngtcp2_conn* conn_;
  nghttp3_conn* h3_ = nullptr;
  std::map<std::int64_t, std::unique_ptr<Stream>> streams_;
  std::size_t answered_ = 0;
};

}  // namespace culvert::quic
