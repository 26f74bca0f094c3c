// Bounds-checked big-endian reader and writer used by every codec. A Reader never reads past its
// span; every accessor reports truncation through its return value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace culvert {

using Bytes = std::vector<std::uint8_t>;
using ByteSpan = std::span<const std::uint8_t>;

inline ByteSpan as_bytes(std::string_view s) { return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()}; }
inline std::string_view as_chars(ByteSpan b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

// ASCII case-insensitive equality (HTTP header names and tokens).
inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

class Reader {
 public:
  explicit Reader(ByteSpan data) : data_(data) {}

  std::size_t remaining() const { return data_.size() - pos_; }
  std::size_t position() const { return pos_; }
  ByteSpan rest() const { return data_.subspan(pos_); }

  std::optional<std::uint8_t> u8() {
    if (remaining() < 1) return std::nullopt;
    return data_[pos_++];
  }
  std::optional<std::uint16_t> u16() {
    if (remaining() < 2) return std::nullopt;
    std::uint16_t v = static_cast<std::uint16_t>((data_[pos_] << 8) | data_[pos_ + 1]);
    pos_ += 2;
    return v;
  }
  std::optional<std::uint32_t> u32() {
    if (remaining() < 4) return std::nullopt;
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | data_[pos_ + i];
    pos_ += 4;
    return v;
  }
  std::optional<std::uint32_t> u24() {
    if (remaining() < 3) return std::nullopt;
    std::uint32_t v = (data_[pos_] << 16) | (data_[pos_ + 1] << 8) | data_[pos_ + 2];
    pos_ += 3;
    return v;
  }
  // A vector with a `width`-byte big-endian length prefix (TLS's opaque<..>).
  std::optional<ByteSpan> prefixed(int width) {
    std::optional<std::uint32_t> n;
    if (width == 1) {
      if (auto v = u8()) n = *v;
    } else if (width == 2) {
      if (auto v = u16()) n = *v;
    } else {
      n = u24();
    }
    if (!n) return std::nullopt;
    return take(*n);
  }
  std::optional<ByteSpan> take(std::size_t n) {
    if (remaining() < n) return std::nullopt;
    ByteSpan out = data_.subspan(pos_, n);
    pos_ += n;
    return out;
  }

 private:
  ByteSpan data_;
  std::size_t pos_ = 0;
};

class Writer {
 public:
  explicit Writer(Bytes& out) : out_(out) {}
  void u8(std::uint8_t v) { out_.push_back(v); }
  void u16(std::uint16_t v) {
    out_.push_back(static_cast<std::uint8_t>(v >> 8));
    out_.push_back(static_cast<std::uint8_t>(v));
  }
  void u32(std::uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) out_.push_back(static_cast<std::uint8_t>(v >> shift));
  }
  void u24(std::uint32_t v) {
    for (int shift = 16; shift >= 0; shift -= 8) out_.push_back(static_cast<std::uint8_t>(v >> shift));
  }
  void bytes(ByteSpan b) { out_.insert(out_.end(), b.begin(), b.end()); }
  void text(std::string_view s) { bytes(as_bytes(s)); }
  // Starts a `width`-byte length prefix to be filled by close_prefix() once the body is written.
  std::size_t open_prefix(int width) {
    out_.insert(out_.end(), static_cast<std::size_t>(width), 0);
    return out_.size();
  }
  void close_prefix(std::size_t body_start, int width) {
    std::size_t n = out_.size() - body_start;
    for (int i = 0; i < width; ++i) out_[body_start - 1 - i] = static_cast<std::uint8_t>(n >> (8 * i));
  }
  std::size_t size() const { return out_.size(); }

 private:
  Bytes& out_;
};

}  // namespace culvert
