// Relay buffers are taken from a small per-thread pool only while bytes flow and given back when a
// direction goes quiet, so ten thousand idle streams hold no buffers at all, and a busy stream
// reuses the same warm memory instead of allocating per read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace culvert {

class PooledBuffer {
 public:
  static constexpr std::size_t kSize = 64 * 1024;

  PooledBuffer();
  ~PooledBuffer();
  PooledBuffer(const PooledBuffer&) = delete;
  PooledBuffer& operator=(const PooledBuffer&) = delete;
  PooledBuffer(PooledBuffer&&) noexcept = default;
  PooledBuffer& operator=(PooledBuffer&& other) noexcept;

  std::span<std::uint8_t> span() { return {storage_.get(), kSize}; }
  std::uint8_t* data() { return storage_.get(); }
  const std::uint8_t* data() const { return storage_.get(); }

 private:
  std::unique_ptr<std::uint8_t[]> storage_;
};

}  // namespace culvert
