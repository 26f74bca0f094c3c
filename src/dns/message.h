// DNS message codec (RFC 1035), pure: just what the client's DNS server needs — the question of a
// query, the TTLs of an answer (to cache it and age it), and small synthesized answers (fake IPs,
// NXDOMAIN for blocked names, NODATA). Names are walked with compression pointers bounded, so
// hostile messages cannot loop.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/result.h"

namespace culvert::dns {

inline constexpr std::size_t kHeaderSize = 12;
inline constexpr std::uint16_t kTypeA = 1;
inline constexpr std::uint16_t kTypeAAAA = 28;
inline constexpr std::uint16_t kTypeOpt = 41;
inline constexpr std::uint16_t kClassIn = 1;
inline constexpr std::uint8_t kRcodeNoError = 0;
inline constexpr std::uint8_t kRcodeFormErr = 1;
inline constexpr std::uint8_t kRcodeServFail = 2;
inline constexpr std::uint8_t kRcodeNxDomain = 3;
inline constexpr std::uint8_t kRcodeRefused = 5;

struct Question {
  std::uint16_t id = 0;
  std::string name;  // lower case, no trailing dot; "" for the root
  std::uint16_t type = 0;
  std::uint16_t klass = 0;
  std::size_t end = 0;  // offset just past the question
};

// A query: QR = 0, opcode 0 (QUERY), exactly one question. Errc::malformed otherwise.
Result<Question> parse_query(ByteSpan message);

struct AnswerInfo {
  std::uint16_t id = 0;
  std::uint8_t rcode = 0;
  bool truncated = false;
  std::uint32_t min_ttl = 0;               // over every record but OPT; 0 when there is none
  std::size_t records = 0;                 // answer + authority + additional, OPT excluded
  std::vector<std::uint16_t> ttl_offsets;  // where each such record's TTL is, for aging
  std::vector<Bytes> addresses;            // A (4 bytes) or AAAA (16) records of the answer section
};

// A response (QR = 1) to `question`: the same question, walked record by record.
Result<AnswerInfo> parse_response(ByteSpan message, const Question& question);

void set_id(Bytes& message, std::uint16_t id);
// A recursive query (RD set) for `name` and `type`, class IN.
Bytes make_query(std::uint16_t id, const std::string& name, std::uint16_t type);
// Lowers each TTL at `offsets` by `elapsed` seconds (not below 0).
void age_ttls(Bytes& message, const std::vector<std::uint16_t>& offsets, std::uint32_t elapsed);

// A response to `query` (its header flags and question copied) with `rcode` and, for A/AAAA
// questions, one answer per address (4 or 16 bytes each) with `ttl`.
Bytes make_response(ByteSpan query, const Question& question, std::uint8_t rcode, const std::vector<Bytes>& addresses,
                    std::uint32_t ttl);
// FORMERR/SERVFAIL for a query whose question could not be used (header only, QDCOUNT 0); empty
// when `query` is shorter than a header.
Bytes make_error(ByteSpan query, std::uint8_t rcode);

}  // namespace culvert::dns
