// Fake-IP pool: answers A queries for proxied names with addresses from a reserved range
// (default 198.18.0.0/15, RFC 2544's benchmarking range, never on the internet) and maps them back
// to the name when an application connects to one, so routing by domain works for applications
// that resolve before they connect, and the real resolution happens at the server. The pool
// recycles its least recently used address when full; a name keeps its address while it is used.
// Thread model: one executor; not thread-safe.
#pragma once

#include <list>
#include <optional>
#include <string>
#include <unordered_map>

#include <asio/ip/address_v4.hpp>

#include "routing/rule.h"

namespace culvert::dns {

class FakeIpPool {
 public:
  // `range` is an IPv4 CIDR of at least 4 addresses; its first (network) and last are not used.
  explicit FakeIpPool(const routing::Cidr& range);

  asio::ip::address_v4 address_for(const std::string& name);
  // The name behind a fake address; nullopt for an address outside the range or not handed out.
  std::optional<std::string> name_for(const asio::ip::address& address);
  bool contains(const asio::ip::address& address) const;
  std::size_t size() const { return by_name_.size(); }
  std::uint32_t capacity() const { return capacity_; }

 private:
  struct Entry {
    std::string name;
    std::uint32_t offset;
  };
  void touch(std::list<Entry>::iterator entry);

  std::uint32_t base_ = 0;  // the first usable address
  std::uint32_t capacity_ = 0;
  std::uint32_t next_ = 0;  // next never-used offset
  std::list<Entry> order_;  // most recently used first
  std::unordered_map<std::string, std::list<Entry>::iterator> by_name_;
  std::unordered_map<std::uint32_t, std::list<Entry>::iterator> by_offset_;
};

}  // namespace culvert::dns
