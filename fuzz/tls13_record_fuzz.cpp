// Fuzzes TLS 1.3 record opening: arbitrary records under a fixed key must be refused cleanly, and
// records sealed from the input must open to the input with its content type and padding removed.
#include "tls13/record.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace culvert::tls13;
  if (size < 2) return 0;
  const CipherSuite& suite = *find_cipher_suite(0x1301 + data[0] % 3);
  culvert::Bytes secret(suite.hash_length, 0x42);
  culvert::ByteSpan rest(data + 2, size - 2);
  {
    RecordProtection open(suite, secret, false);
    culvert::Bytes record(rest.begin(), rest.end());
    if (record.size() >= kRecordHeaderSize) {
      std::size_t n = 0;
      auto type = open.open(culvert::ByteSpan(record).first(kRecordHeaderSize),
                            std::span(record).subspan(kRecordHeaderSize), &n);
      if (type && n > record.size()) __builtin_trap();
    }
  }
  RecordProtection seal(suite, secret, true), open(suite, secret, false);
  auto plain = rest.first(std::min(rest.size(), kMaxPlaintext));
  culvert::Bytes out;
  seal.seal(kApplicationData, plain, out, data[1]);
  std::size_t n = 0;
  auto type = open.open(culvert::ByteSpan(out).first(kRecordHeaderSize), std::span(out).subspan(kRecordHeaderSize), &n);
  // Trailing zero bytes of the plaintext are indistinguishable from padding only if the type were
  // zero; with type 23 the plaintext comes back whole.
  if (!type || *type != kApplicationData || n != plain.size()) __builtin_trap();
  if (!std::equal(plain.begin(), plain.end(), out.begin() + kRecordHeaderSize)) __builtin_trap();
  return 0;
}
