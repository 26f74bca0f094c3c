// A decoder for HTTP/1.1 chunked request bodies (RFC 9112 §7.1), as a reverse proxy sends them
// when it streams a body it does not buffer (nginx with proxy_request_buffering off).
// Chunk extensions and trailer fields are skipped; sizes are hex with at most 15 digits; line
// ends may be CRLF or LF, as nginx accepts. Pure code: no I/O.
#pragma once

#include <cstdint>

#include "core/bytes.h"
#include "core/result.h"

namespace culvert::cover {

class ChunkedDecoder {
 public:
  // Decodes what it can of `input`, appending body bytes to `out`. Returns how many bytes of
  // `input` it used (all of them until the body ends). Errc::malformed for a broken encoding.
  Result<std::size_t> feed(ByteSpan input, Bytes& out);
  // The last chunk and the trailer section are through.
  bool done() const { return state_ == State::done; }

 private:
  enum class State { size, extension, size_lf, data, data_cr, data_lf, trailer_start, trailer, trailer_lf, done };
  State state_ = State::size;
  std::uint64_t size_ = 0;
  int digits_ = 0;
};

}  // namespace culvert::cover
