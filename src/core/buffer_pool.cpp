#include "core/buffer_pool.h"

namespace culvert {
namespace {

// Free buffers kept for reuse on this thread; beyond this they go back to the allocator.
constexpr std::size_t kMaxFree = 32;

std::vector<std::unique_ptr<std::uint8_t[]>>& free_buffers() {
  thread_local std::vector<std::unique_ptr<std::uint8_t[]>> buffers;
  return buffers;
}

}  // namespace

PooledBuffer::PooledBuffer() {
  auto& free = free_buffers();
  if (free.empty()) {
    storage_ = std::make_unique_for_overwrite<std::uint8_t[]>(kSize);
  } else {
    storage_ = std::move(free.back());
    free.pop_back();
  }
}

PooledBuffer::~PooledBuffer() {
  auto& free = free_buffers();
  if (storage_ && free.size() < kMaxFree) free.push_back(std::move(storage_));
}

PooledBuffer& PooledBuffer::operator=(PooledBuffer&& other) noexcept {
  if (this != &other) {
    PooledBuffer old(std::move(*this));  // back to the pool
    storage_ = std::move(other.storage_);
  }
  return *this;
}

}  // namespace culvert
