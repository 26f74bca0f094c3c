// ChunkQueue: a FIFO of bytes stored in pooled 64 KiB chunks. Appending never moves bytes already
// stored, so the front can be written out without copying while more arrives behind it; emptied
// chunks go back to the pool at once, so a quiet queue holds no memory and a busy one never maps
// and unmaps large blocks (a growable buffer did both, costing page faults on the data path).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "core/buffer_pool.h"

namespace culvert {

class ChunkQueue {
 public:
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  void append(std::span<const std::uint8_t> bytes);
  // The contiguous bytes at the front (all or part of the first chunk); valid until consume().
  std::span<const std::uint8_t> front() const;
  void consume(std::size_t n);
  // Copies up to out.size() bytes from the front and consumes them; returns how many.
  std::size_t read(std::span<std::uint8_t> out);
  // Frees the chunk list's own storage when empty.
  void shrink_if_empty();

 private:
  struct Chunk {
    PooledBuffer buffer;
    std::size_t begin = 0;
    std::size_t end = 0;
  };
  std::vector<Chunk> chunks_;
  std::size_t size_ = 0;
};

}  // namespace culvert
