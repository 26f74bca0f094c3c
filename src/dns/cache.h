// DNS answer cache keyed by (name, type, class): answers are kept for their smallest TTL (capped),
// served with their TTLs aged by the time spent in the cache, and evicted least-recently-used past
// `capacity`. Errors (SERVFAIL, REFUSED) and truncated answers are not kept.
// Thread model: one executor; not thread-safe.
#pragma once

#include <chrono>
#include <list>
#include <optional>
#include <unordered_map>

#include "dns/message.h"

namespace culvert::dns {

class Cache {
 public:
  using Clock = std::chrono::steady_clock;
  explicit Cache(std::size_t capacity, std::uint32_t max_ttl = 86400) : capacity_(capacity), max_ttl_(max_ttl) {}

  // The cached answer for `question` with its id set to the question's and TTLs aged; nullopt
  // when absent or expired.
  std::optional<Bytes> find(const Question& question, Clock::time_point now = Clock::now());
  // Keeps `answer` (already checked against `question`) if it may be cached.
  void store(const Question& question, ByteSpan answer, const AnswerInfo& info, Clock::time_point now = Clock::now());
  std::size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::string key;
    Bytes answer;
    std::vector<std::uint16_t> ttl_offsets;
    Clock::time_point stored;
    Clock::time_point expires;
  };
  static std::string key_of(const Question& q);

  std::size_t capacity_;
  std::uint32_t max_ttl_;
  std::list<Entry> entries_;  // most recently used first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
};

}  // namespace culvert::dns
