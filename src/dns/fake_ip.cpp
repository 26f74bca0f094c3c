#include "dns/fake_ip.h"

namespace culvert::dns {

FakeIpPool::FakeIpPool(const routing::Cidr& range) {
  std::uint32_t size = range.prefix == 0 ? 0xFFFFFFFFu : (1u << (32 - range.prefix));
  base_ = range.network.to_v4().to_uint() + 1;
  capacity_ = size >= 4 ? size - 2 : 1;
}

void FakeIpPool::touch(std::list<Entry>::iterator entry) { order_.splice(order_.begin(), order_, entry); }

asio::ip::address_v4 FakeIpPool::address_for(const std::string& name) {
  if (auto it = by_name_.find(name); it != by_name_.end()) {
    touch(it->second);
    return asio::ip::address_v4(base_ + it->second->offset);
  }
  std::uint32_t offset;
  if (next_ < capacity_) {
    offset = next_++;
  } else {
    // Full: take the least recently used address over.
    auto& oldest = order_.back();
    offset = oldest.offset;
    by_name_.erase(oldest.name);
    by_offset_.erase(offset);
    order_.pop_back();
  }
  order_.push_front(Entry{name, offset});
  by_name_.emplace(name, order_.begin());
  by_offset_.emplace(offset, order_.begin());
  return asio::ip::address_v4(base_ + offset);
}

bool FakeIpPool::contains(const asio::ip::address& address) const {
  if (!address.is_v4()) return false;
  auto value = address.to_v4().to_uint();
  return value >= base_ && value - base_ < capacity_;
}

std::optional<std::string> FakeIpPool::name_for(const asio::ip::address& address) {
  if (!contains(address)) return std::nullopt;
  auto it = by_offset_.find(address.to_v4().to_uint() - base_);
  if (it == by_offset_.end()) return std::nullopt;
  touch(it->second);
  return it->second->name;
}

}  // namespace culvert::dns
