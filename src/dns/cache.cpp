#include "dns/cache.h"

namespace culvert::dns {

std::string Cache::key_of(const Question& q) {
  std::string key = q.name;
  key += '/';
  key += std::to_string(q.type);
  key += '/';
  key += std::to_string(q.klass);
  return key;
}

std::optional<Bytes> Cache::find(const Question& question, Clock::time_point now) {
  auto it = index_.find(key_of(question));
  if (it == index_.end()) return std::nullopt;
  auto entry = it->second;
  if (now >= entry->expires) {
    index_.erase(it);
    entries_.erase(entry);
    return std::nullopt;
  }
  entries_.splice(entries_.begin(), entries_, entry);
  Bytes answer = entry->answer;
  auto elapsed = std::chrono::duration_cast<std::chrono::seconds>(now - entry->stored).count();
  age_ttls(answer, entry->ttl_offsets, static_cast<std::uint32_t>(elapsed));
  set_id(answer, question.id);
  return answer;
}

void Cache::store(const Question& question, ByteSpan answer, const AnswerInfo& info, Clock::time_point now) {
  if (capacity_ == 0 || info.truncated) return;
  if (info.rcode != kRcodeNoError && info.rcode != kRcodeNxDomain) return;
  // NXDOMAIN/NODATA without an SOA to say for how long: do not keep (RFC 2308 §5).
  if (info.records == 0) return;
  std::uint32_t ttl = std::min(info.min_ttl, max_ttl_);
  if (ttl == 0) return;
  auto key = key_of(question);
  if (auto it = index_.find(key); it != index_.end()) {
    entries_.erase(it->second);
    index_.erase(it);
  }
  entries_.push_front(
      Entry{key, Bytes(answer.begin(), answer.end()), info.ttl_offsets, now, now + std::chrono::seconds(ttl)});
  index_.emplace(std::move(key), entries_.begin());
  while (entries_.size() > capacity_) {
    index_.erase(entries_.back().key);
    entries_.pop_back();
  }
}

}  // namespace culvert::dns
