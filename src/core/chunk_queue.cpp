#include "core/chunk_queue.h"

#include <algorithm>
#include <cstring>

namespace culvert {

void ChunkQueue::append(std::span<const std::uint8_t> bytes) {
  while (!bytes.empty()) {
    if (chunks_.empty() || chunks_.back().end == PooledBuffer::kSize) chunks_.push_back(Chunk{});
    Chunk& last = chunks_.back();
    std::size_t n = std::min(bytes.size(), PooledBuffer::kSize - last.end);
    std::memcpy(last.buffer.data() + last.end, bytes.data(), n);
    last.end += n;
    size_ += n;
    bytes = bytes.subspan(n);
  }
}

std::span<const std::uint8_t> ChunkQueue::front() const {
  if (chunks_.empty()) return {};
  const Chunk& first = chunks_.front();
  return {first.buffer.data() + first.begin, first.end - first.begin};
}

void ChunkQueue::consume(std::size_t n) {
  n = std::min(n, size_);
  size_ -= n;
  while (n > 0) {
    Chunk& first = chunks_.front();
    std::size_t take = std::min(n, first.end - first.begin);
    first.begin += take;
    n -= take;
    // A drained chunk goes back to the pool, unless it is the only one and can be refilled in place.
    if (first.begin == first.end) {
      if (chunks_.size() > 1) {
        chunks_.erase(chunks_.begin());
      } else {
        first.begin = first.end = 0;
      }
    }
  }
}

std::size_t ChunkQueue::read(std::span<std::uint8_t> out) {
  std::size_t copied = 0;
  while (copied < out.size() && size_ > 0) {
    auto bytes = front();
    std::size_t n = std::min(bytes.size(), out.size() - copied);
    std::memcpy(out.data() + copied, bytes.data(), n);
    consume(n);
    copied += n;
  }
  return copied;
}

void ChunkQueue::shrink_if_empty() {
  if (size_ == 0) std::vector<Chunk>().swap(chunks_);
}

}  // namespace culvert
