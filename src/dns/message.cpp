#include "dns/message.h"

namespace culvert::dns {
namespace {

std::uint16_t u16_at(ByteSpan m, std::size_t at) { return static_cast<std::uint16_t>(m[at] << 8 | m[at + 1]); }

// Skips the name at `at` (labels or one compression pointer at its end); the offset after it.
Result<std::size_t> skip_name(ByteSpan m, std::size_t at) {
  std::size_t total = 0;
  for (;;) {
    if (at >= m.size()) return fail(Errc::malformed);
    std::uint8_t len = m[at];
    if ((len & 0xC0) == 0xC0) {
      if (at + 2 > m.size()) return fail(Errc::malformed);
      return at + 2;
    }
    if (len & 0xC0) return fail(Errc::malformed);  // 0x40/0x80: obsolete label types
    ++at;
    if (len == 0) return at;
    total += len + 1;
    if (total > 255 || at + len > m.size()) return fail(Errc::malformed);
    at += len;
  }
}

// Reads the (uncompressed) question name: queries never compress it.
Result<std::string> read_question_name(ByteSpan m, std::size_t& at) {
  std::string name;
  for (;;) {
    if (at >= m.size()) return fail(Errc::malformed);
    std::uint8_t len = m[at++];
    if (len == 0) break;
    if (len & 0xC0 || at + len > m.size()) return fail(Errc::malformed);
    if (!name.empty()) name += '.';
    for (std::size_t i = 0; i < len; ++i) {
      char c = static_cast<char>(m[at + i]);
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      name += c;
    }
    at += len;
    if (name.size() > 253) return fail(Errc::malformed);
  }
  return name;
}

}  // namespace

Result<Question> parse_query(ByteSpan m) {
  if (m.size() < kHeaderSize) return fail(Errc::malformed);
  std::uint16_t flags = u16_at(m, 2);
  if (flags & 0x8000) return fail(Errc::malformed);              // a response, not a query
  if (((flags >> 11) & 0xF) != 0) return fail(Errc::malformed);  // opcode other than QUERY
  if (u16_at(m, 4) != 1) return fail(Errc::malformed);
  Question q;
  q.id = u16_at(m, 0);
  std::size_t at = kHeaderSize;
  auto name = read_question_name(m, at);
  if (!name) return fail(name.error());
  if (at + 4 > m.size()) return fail(Errc::malformed);
  q.name = std::move(*name);
  q.type = u16_at(m, at);
  q.klass = u16_at(m, at + 2);
  q.end = at + 4;
  return q;
}

Result<AnswerInfo> parse_response(ByteSpan m, const Question& question) {
  if (m.size() < kHeaderSize) return fail(Errc::malformed);
  std::uint16_t flags = u16_at(m, 2);
  if (!(flags & 0x8000) || u16_at(m, 4) != 1) return fail(Errc::malformed);
  AnswerInfo info;
  info.id = u16_at(m, 0);
  info.rcode = flags & 0xF;
  info.truncated = (flags & 0x0200) != 0;
  std::size_t at = kHeaderSize;
  auto name = read_question_name(m, at);
  if (!name || at + 4 > m.size() || *name != question.name || u16_at(m, at) != question.type ||
      u16_at(m, at + 2) != question.klass)
    return fail(Errc::malformed);
  at += 4;
  std::size_t answers = u16_at(m, 6);
  std::size_t count = answers + u16_at(m, 8) + u16_at(m, 10);
  bool first = true;
  for (std::size_t i = 0; i < count; ++i) {
    auto after = skip_name(m, at);
    if (!after || *after + 10 > m.size()) return fail(Errc::malformed);
    at = *after;
    std::uint16_t type = u16_at(m, at);
    std::size_t ttl_at = at + 4;
    std::uint32_t ttl = std::uint32_t(u16_at(m, ttl_at)) << 16 | u16_at(m, ttl_at + 2);
    std::uint16_t rdlength = u16_at(m, at + 8);
    at += 10;
    if (at + rdlength > m.size()) return fail(Errc::malformed);
    if (i < answers && type == question.type &&
        ((type == kTypeA && rdlength == 4) || (type == kTypeAAAA && rdlength == 16)))
      info.addresses.emplace_back(m.begin() + static_cast<std::ptrdiff_t>(at),
                                  m.begin() + static_cast<std::ptrdiff_t>(at + rdlength));
    at += rdlength;
    if (type == kTypeOpt) continue;  // its "TTL" is EDNS flags
    if (ttl & 0x80000000u) ttl = 0;  // RFC 2181 §8: treat as zero
    info.min_ttl = first ? ttl : std::min(info.min_ttl, ttl);
    first = false;
    ++info.records;
    if (ttl_at > 0xFFFF) return fail(Errc::malformed);
    info.ttl_offsets.push_back(static_cast<std::uint16_t>(ttl_at));
  }
  return info;
}

Bytes make_query(std::uint16_t id, const std::string& name, std::uint16_t type) {
  Bytes q{static_cast<std::uint8_t>(id >> 8), static_cast<std::uint8_t>(id), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
  std::size_t start = 0;
  while (start <= name.size()) {
    auto dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    std::size_t len = std::min<std::size_t>(dot - start, 63);
    if (len > 0) {
      q.push_back(static_cast<std::uint8_t>(len));
      q.insert(q.end(), name.begin() + static_cast<std::ptrdiff_t>(start),
               name.begin() + static_cast<std::ptrdiff_t>(start + len));
    }
    start = dot + 1;
  }
  q.push_back(0);
  q.insert(q.end(), {static_cast<std::uint8_t>(type >> 8), static_cast<std::uint8_t>(type), 0, kClassIn});
  return q;
}

void set_id(Bytes& m, std::uint16_t id) {
  if (m.size() < 2) return;
  m[0] = static_cast<std::uint8_t>(id >> 8);
  m[1] = static_cast<std::uint8_t>(id);
}

void age_ttls(Bytes& m, const std::vector<std::uint16_t>& offsets, std::uint32_t elapsed) {
  for (auto at : offsets) {
    if (at + 4u > m.size()) continue;
    std::uint32_t ttl =
        std::uint32_t(m[at]) << 24 | std::uint32_t(m[at + 1]) << 16 | std::uint32_t(m[at + 2]) << 8 | m[at + 3];
    ttl = ttl > elapsed ? ttl - elapsed : 0;
    m[at] = static_cast<std::uint8_t>(ttl >> 24);
    m[at + 1] = static_cast<std::uint8_t>(ttl >> 16);
    m[at + 2] = static_cast<std::uint8_t>(ttl >> 8);
    m[at + 3] = static_cast<std::uint8_t>(ttl);
  }
}

Bytes make_response(ByteSpan query, const Question& question, std::uint8_t rcode, const std::vector<Bytes>& addresses,
                    std::uint32_t ttl) {
  Bytes out(query.begin(), query.begin() + static_cast<std::ptrdiff_t>(question.end));
  std::uint16_t flags = u16_at(query, 2);
  // QR, the query's opcode and RD, RA set, the rcode; AA/TC/Z/AD/CD cleared.
  flags = static_cast<std::uint16_t>(0x8000 | (flags & 0x7900) | 0x0080 | (rcode & 0xF));
  out[2] = static_cast<std::uint8_t>(flags >> 8);
  out[3] = static_cast<std::uint8_t>(flags);
  Writer w(out);
  std::uint16_t answers = 0;
  for (const auto& address : addresses) {
    std::uint16_t type = address.size() == 4 ? kTypeA : kTypeAAAA;
    if (type != question.type) continue;
    w.u16(0xC00C);  // the question's name
    w.u16(type);
    w.u16(kClassIn);
    w.u32(ttl);
    w.u16(static_cast<std::uint16_t>(address.size()));
    out.insert(out.end(), address.begin(), address.end());
    ++answers;
  }
  out[6] = static_cast<std::uint8_t>(answers >> 8);
  out[7] = static_cast<std::uint8_t>(answers);
  for (int i = 8; i < 12; ++i) out[i] = 0;  // no authority, no additional (the query's OPT is dropped)
  return out;
}

Bytes make_error(ByteSpan query, std::uint8_t rcode) {
  if (query.size() < kHeaderSize) return {};
  Bytes out(query.begin(), query.begin() + kHeaderSize);
  std::uint16_t flags = u16_at(query, 2);
  flags = static_cast<std::uint16_t>(0x8000 | (flags & 0x7900) | 0x0080 | (rcode & 0xF));
  out[2] = static_cast<std::uint8_t>(flags >> 8);
  out[3] = static_cast<std::uint8_t>(flags);
  for (int i = 4; i < 12; ++i) out[i] = 0;
  return out;
}

}  // namespace culvert::dns
