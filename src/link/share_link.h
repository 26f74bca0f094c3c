// Share links: everything a client needs to reach one server as one user, in one line that also
// fits a QR code:
//
//   culvert://CREDENTIAL@HOST:PORT?tr=tls&sni=NAME&pin=SPKI#LABEL
//   culvert://CREDENTIAL@HOST:PORT?tr=borrow&sni=BORROWED.NAME&pk=KEY#LABEL
//   culvert://CREDENTIAL@EDGE:PORT?tr=cdn&sni=SITE.NAME&pk=KEY&path=%2FPREFIX&up=packet#LABEL
//
// CREDENTIAL is base64url(key_id[8] || secret[32]); the key id is also the short id the borrowed
// transport's ClientHello carries. SPKI is base64url(SHA-256 of the server certificate's
// SubjectPublicKeyInfo); KEY is base64url of the server's static X25519 public key (borrow, cdn);
// sni and pin are optional for tls; LABEL is percent-encoded. What each transport carries is its
// own struct in ShareLink::transport (one place, parse and format, knows them all).
// The byte-level grammar is in docs/protocol.md. Pure code: no I/O.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "core/result.h"

namespace culvert {

struct UserCredential {
  std::array<std::uint8_t, 8> key_id{};
  std::array<std::uint8_t, 32> secret{};
};

using PublicKey = std::array<std::uint8_t, 32>;

// Transport `tls`: Culvert's own certificate, pinned or checked against the CAs.
struct TlsLink {
  std::optional<PublicKey> pin;  // absent: verify the CA chain for `sni`/`host`
};
// Transport `borrow`: a real site's TLS identity; the server proves itself with its static key.
struct BorrowLink {
  PublicKey server_key{};
};
// Transport `cdn`: HTTPS through a CDN's edge to the server's secret path, with an end-to-end
// handshake against the server's static key (docs/protocol.md, "The CDN transport").
struct CdnLink {
  PublicKey server_key{};
  std::string path;               // the secret path prefix, "/..."
  std::string upload = "packet";  // "packet" (buffered-body safe) or "stream"
};
using TransportLink = std::variant<TlsLink, BorrowLink, CdnLink>;

// The transports' names as links and configurations spell them, in TransportLink's order.
inline constexpr std::array<std::string_view, 3> kTransportNames = {"tls", "borrow", "cdn"};
std::string_view transport_name(const TransportLink& transport);
// A link part with its defaults for a transport name; nothing for an unknown name.
std::optional<TransportLink> transport_for_name(std::string_view name);

struct ShareLink {
  std::string host;  // name or IP literal, without brackets (cdn: the CDN edge)
  std::uint16_t port = 443;
  std::string sni;  // empty: no SNI (as browsers do for IP literals); cdn: the site's name at the CDN
  UserCredential credential;
  std::string label;
  TransportLink transport;

  std::string_view transport_name() const { return culvert::transport_name(transport); }
  // The server's static key (borrow, cdn), if the transport has one.
  std::optional<PublicKey> server_key() const;
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
