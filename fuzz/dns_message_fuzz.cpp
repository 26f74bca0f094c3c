// Fuzzes the DNS codec: queries, answers to them, TTL aging and synthesized answers.
#include "dns/message.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace culvert;
  ByteSpan in(data, size);
  auto question = dns::parse_query(in);
  if (!question) {
    // As an answer to a fixed question.
    dns::Question q;
    q.name = "example.com";
    q.type = dns::kTypeA;
    q.klass = dns::kClassIn;
    if (auto info = dns::parse_response(in, q)) {
      Bytes copy(in.begin(), in.end());
      for (auto at : info->ttl_offsets)
        if (at + 4u > size) __builtin_trap();
      dns::age_ttls(copy, info->ttl_offsets, 7);
      if (!dns::parse_response(copy, q)) __builtin_trap();
    }
    (void)dns::make_error(in, dns::kRcodeFormErr);
    return 0;
  }
  if (question->end > size) __builtin_trap();
  auto answer = dns::make_response(in, *question, dns::kRcodeNoError, {Bytes{198, 18, 0, 1}, Bytes(16, 0)}, 1);
  // What we synthesize must read back as an answer to the question.
  if (!dns::parse_response(answer, *question)) __builtin_trap();
  return 0;
}
