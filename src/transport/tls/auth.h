// The tunnel's authentication preamble: the first bytes the client sends inside TLS.
//
//   version u8 | key_id[8] | tag[32]        (41 bytes, then mux frames)
//   tag = HMAC-SHA256(secret, "culvert auth v1" || exporter || version || key_id)
//   exporter = TLS exporter("EXPORTER-culvert-auth", no context, 32 bytes)
//
// The exporter is unique to each TLS session, so a preamble recorded on one connection is
// worthless on any other (no replay cache needed). Pure code: no I/O.
#pragma once

#include <array>

#include "core/bytes.h"
#include "core/result.h"
#include "link/share_link.h"

namespace culvert::tls {

inline constexpr std::string_view kExporterLabel = "EXPORTER-culvert-auth";
inline constexpr std::size_t kPreambleSize = 41;

using Exporter = std::array<std::uint8_t, 32>;

Bytes make_preamble(const UserCredential& credential, const Exporter& exporter, std::uint8_t version);

struct Preamble {
  std::uint8_t version = 0;
  std::array<std::uint8_t, 8> key_id{};
  std::array<std::uint8_t, 32> tag{};
};
// Errc::truncated if fewer than kPreambleSize bytes are given.
Result<Preamble> parse_preamble(ByteSpan input);
// Constant-time check of the tag against `secret`.
bool verify_preamble(const Preamble& preamble, const std::array<std::uint8_t, 32>& secret, const Exporter& exporter);

}  // namespace culvert::tls
