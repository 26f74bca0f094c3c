// ByteBuffer: a growable FIFO of bytes for the data path. Unlike std::vector it does not zero the
// space it hands out for reads (resize() did, 64 KiB per read), and consuming from the front moves
// an offset instead of the remaining bytes; compaction happens only when space is needed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>

namespace culvert {

class ByteBuffer {
 public:
  ByteBuffer() = default;
  ByteBuffer(ByteBuffer&&) noexcept = default;
  ByteBuffer& operator=(ByteBuffer&&) noexcept = default;

  std::uint8_t* data() { return storage_.get() + start_; }
  const std::uint8_t* data() const { return storage_.get() + start_; }
  std::size_t size() const { return end_ - start_; }
  bool empty() const { return start_ == end_; }
  std::span<const std::uint8_t> bytes() const { return {data(), size()}; }
  std::size_t capacity() const { return capacity_; }

  // At least `n` writable (uninitialised) bytes after the data; commit() what was written.
  // Invalidates pointers into the buffer.
  std::span<std::uint8_t> prepare(std::size_t n) {
    if (capacity_ - end_ < n) make_room(n);
    return {storage_.get() + end_, n};
  }
  void commit(std::size_t n) { end_ += n; }
  void append(std::span<const std::uint8_t> bytes) {
    if (bytes.empty()) return;
    std::memcpy(prepare(bytes.size()).data(), bytes.data(), bytes.size());
    commit(bytes.size());
  }
  // Drops `n` bytes from the front.
  void consume(std::size_t n) {
    start_ += n;
    if (start_ == end_) start_ = end_ = 0;
  }
  void clear() { start_ = end_ = 0; }
  // Frees the storage if empty (an idle connection keeps no buffer).
  void shrink_if_empty() {
    if (empty()) {
      storage_.reset();
      capacity_ = 0;
    }
  }

 private:
  void make_room(std::size_t n) {
    std::size_t used = size();
    if (start_ > 0 && capacity_ - used >= n && used <= capacity_ / 2) {
      std::memmove(storage_.get(), data(), used);  // enough room once the consumed front is reclaimed
    } else {
      std::size_t grown = capacity_ * 2;
      if (grown < used + n) grown = used + n;
      auto bigger = std::make_unique_for_overwrite<std::uint8_t[]>(grown);
      if (used) std::memcpy(bigger.get(), data(), used);
      storage_ = std::move(bigger);
      capacity_ = grown;
    }
    start_ = 0;
    end_ = used;
  }

  std::unique_ptr<std::uint8_t[]> storage_;
  std::size_t capacity_ = 0;
  std::size_t start_ = 0;
  std::size_t end_ = 0;
};

}  // namespace culvert
