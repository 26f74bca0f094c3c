#include "cover/chunked_body.h"

#include <algorithm>

namespace culvert::cover {
namespace {

int hex_value(std::uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Result<std::size_t> ChunkedDecoder::feed(ByteSpan input, Bytes& out) {
  std::size_t i = 0;
  while (i < input.size() && state_ != State::done) {
    std::uint8_t c = input[i];
    switch (state_) {
      case State::size: {
        int v = hex_value(c);
        if (v >= 0) {
          if (++digits_ > 15) return fail(Errc::malformed);
          size_ = size_ * 16 + static_cast<std::uint64_t>(v);
        } else if (digits_ == 0) {
          return fail(Errc::malformed);
        } else if (c == ';' || c == ' ' || c == '\t') {
          state_ = State::extension;
        } else if (c == '\r') {
          state_ = State::size_lf;
        } else if (c == '\n') {
          state_ = size_ == 0 ? State::trailer_start : State::data;
        } else {
          return fail(Errc::malformed);
        }
        ++i;
        break;
      }
      case State::extension:
        if (c == '\r') state_ = State::size_lf;
        if (c == '\n') state_ = size_ == 0 ? State::trailer_start : State::data;
        ++i;
        break;
      case State::size_lf:
        if (c != '\n') return fail(Errc::malformed);
        state_ = size_ == 0 ? State::trailer_start : State::data;
        ++i;
        break;
      case State::data: {
        std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(size_, input.size() - i));
        out.insert(out.end(), input.begin() + static_cast<std::ptrdiff_t>(i),
                   input.begin() + static_cast<std::ptrdiff_t>(i + n));
        i += n;
        size_ -= n;
        if (size_ == 0) state_ = State::data_cr;
        break;
      }
      case State::data_cr:
        if (c == '\r') {
          state_ = State::data_lf;
        } else if (c == '\n') {
          state_ = State::size;
          digits_ = 0;
        } else {
          return fail(Errc::malformed);
        }
        ++i;
        break;
      case State::data_lf:
        if (c != '\n') return fail(Errc::malformed);
        state_ = State::size;
        digits_ = 0;
        ++i;
        break;
      case State::trailer_start:
        if (c == '\r') {
          state_ = State::trailer_lf;
        } else if (c == '\n') {
          state_ = State::done;
        } else {
          state_ = State::trailer;
        }
        ++i;
        break;
      case State::trailer:
        if (c == '\n') state_ = State::trailer_start;
        ++i;
        break;
      case State::trailer_lf:
        if (c != '\n') return fail(Errc::malformed);
        state_ = State::done;
        ++i;
        break;
      case State::done:
        break;
    }
  }
  return i;
}

}  // namespace culvert::cover
