// Share links: everything a client needs to reach one server as one user, in one line that also
// fits a QR code:
//
//   culvert://CREDENTIAL@HOST:PORT?tr=tls&sni=NAME&pin=SPKI#LABEL
//   culvert://CREDENTIAL@HOST:PORT?tr=borrow&sni=BORROWED.NAME&pk=KEY#LABEL
//
// CREDENTIAL is base64url(key_id[8] || secret[32]); the key id is also the short id the borrowed
// transport's ClientHello carries. SPKI is base64url(SHA-256 of the server certificate's
// SubjectPublicKeyInfo); KEY is base64url of the server's static X25519 public key (required for
// borrow); sni and pin are optional for tls; LABEL is percent-encoded.
// The byte-level grammar is in docs/protocol.md. Pure code: no I/O.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"

namespace culvert {

struct UserCredential {
  std::array<std::uint8_t, 8> key_id{};
  std::array<std::uint8_t, 32> secret{};
};

struct ShareLink {
  std::string transport = "tls";
  std::string host;  // name or IP literal, without brackets
  std::uint16_t port = 443;
  std::string sni;                                         // empty: no SNI (as browsers do for IP literals)
  std::optional<std::array<std::uint8_t, 32>> pin;         // absent: verify the CA chain for `sni`/`host`
  std::optional<std::array<std::uint8_t, 32>> server_key;  // borrow: the server's static X25519 key
  UserCredential credential;
  std::string label;
};

inline constexpr std::size_t kMaxLinkLength = 2048;

std::string format_share_link(const ShareLink& link);
// Parses a link. Surrounding white space and quotes (as links get pasted from chats and scripts)
// are dropped first. On failure `why`, when given, says what is wrong in words for the user
// ("the link is cut short: ..."): Errc::bad_link, or Errc::unsupported for an unknown transport.
Result<ShareLink> parse_share_link(std::string_view text, std::string* why = nullptr);

std::string percent_encode(std::string_view text);
std::optional<std::string> percent_decode(std::string_view text);

}  // namespace culvert
