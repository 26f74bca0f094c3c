// Fully-encrypted-traffic detection as the GFW deployed it from November 2021: Wu et al., "How the
// Great Firewall of China Detects and Blocks Fully Encrypted Traffic", USENIX Security 2023,
// Algorithm 1 and §4–§6. Applies to the first data-carrying packet from the client only.
#pragma once

#include "core/bytes.h"
#include "lab/verdict.h"

namespace culvert::lab {

// Fraction of candidate connections the paper saw blocked (§6.3).
inline constexpr double kFullyEncryptedBlockRate = 0.263;

struct FullyEncryptedResult {
  bool exempt = false;
  std::string exemption;  // "Ex1".."Ex5" (or the observed 1-byte case) when exempt
  double bits_per_byte = 0;
};

FullyEncryptedResult classify_first_packet(ByteSpan packet);
Verdict fully_encrypted_verdict(ByteSpan first_client_packet);

}  // namespace culvert::lab
