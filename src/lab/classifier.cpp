#include "lab/classifier.h"

#include <cstdio>

#include "lab/cleartext_proxy.h"
#include "lab/fully_encrypted.h"
#include "lab/reference_fingerprints.h"
#include "lab/tls_in_tls.h"

namespace culvert::lab {
namespace {

constexpr const char* kFingerprintSource =
    "JA4 (FoxIO technical_details/JA4.md), JA3 (salesforce/ja3); Oct 2022 blocking of non-browser TLS "
    "(net4people/bbs#129): flag, not block";
constexpr const char* kBlocklistSource = "Rambert et al., WWW 2021; GFW Report on ESNI blocking, 2020";

Verdict fingerprint_verdict(const Classification& c) {
  Verdict v{"tls-fingerprint", Outcome::pass, "", kFingerprintSource};
  if (!c.client_hello) {
    v.reason = "no TLS ClientHello";
    return v;
  }
  for (const auto& ref : reference_fingerprints()) {
    if (ref.ja4 == c.ja4) {
      v.reason = "JA4 " + c.ja4 + " matches " + ref.name;
      return v;
    }
  }
  v.outcome = Outcome::flag;
  v.reason = "JA4 " + c.ja4 + " matches no captured browser";
  return v;
}

Verdict blocklist_verdict(const Classification& c, ByteSpan client_start, const ClassifierOptions& o) {
  Verdict v{"name-blocklist", Outcome::pass, "no name", kBlocklistSource};
  std::string name;
  const char* where = "";
  if (c.client_hello && !c.client_hello->sni.empty()) {
    name = c.client_hello->sni;
    where = "SNI";
  } else if (auto host = http_host(client_start)) {
    name = *host;
    where = "HTTP Host";
  }
  if (name.empty()) return v;
  auto hit = o.blocked_names.match(name);
  if (hit.empty()) {
    v.reason = std::string(where) + " " + name + " not on the blocklist";
    return v;
  }
  v.outcome = Outcome::block;
  v.reason = std::string(where) + " " + name + " matches blocked " + hit + ": forged RSTs, then residual blocking";
  return v;
}

}  // namespace

Outcome Classification::worst() const {
  Outcome w = Outcome::pass;
  for (const auto& v : verdicts)
    if (static_cast<int>(v.outcome) > static_cast<int>(w)) w = v.outcome;
  return w;
}

std::string json_escape(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

std::string Classification::to_json() const {
  std::string out = "{\"verdicts\":[";
  for (std::size_t i = 0; i < verdicts.size(); ++i) {
    const auto& v = verdicts[i];
    if (i) out += ',';
    out += "{\"rule\":\"" + json_escape(v.rule) + "\",\"outcome\":\"" + std::string(to_string(v.outcome)) +
           "\",\"reason\":\"" + json_escape(v.reason) + "\",\"source\":\"" + json_escape(v.source) + "\"}";
  }
  out += "]";
  if (client_hello) {
    out += ",\"tls\":{\"sni\":\"" + json_escape(client_hello->sni) + "\",\"ja3\":\"" + ja3 + "\",\"ja4\":\"" + ja4 +
           "\",\"alpn\":[";
    for (std::size_t i = 0; i < client_hello->alpn.size(); ++i)
      out += (i ? ",\"" : "\"") + json_escape(client_hello->alpn[i]) + "\"";
    out += "]}";
  }
  out += ",\"worst\":\"" + std::string(to_string(worst())) + "\"}";
  return out;
}

Classification classify_first_packet_rules(ByteSpan first_client_packet, ByteSpan client_start,
                                           const ClassifierOptions& options) {
  Classification c;
  if (auto hello = parse_client_hello(client_start)) {
    c.client_hello = *hello;
    c.ja3 = ja3_hash(*hello);
    c.ja4 = ja4(*hello);
  }
  c.verdicts.push_back(fully_encrypted_verdict(first_client_packet));
  c.verdicts.push_back(fingerprint_verdict(c));
  c.verdicts.push_back(blocklist_verdict(c, client_start, options));
  c.verdicts.push_back(cleartext_proxy_verdict(first_client_packet));
  return c;
}

Classification classify(const Flow& flow, const ClassifierOptions& options) {
  ByteSpan first;
  for (const auto& s : flow) {
    if (s.direction == Direction::client_to_server && !s.bytes.empty()) {
      first = s.bytes;
      break;
    }
  }
  Bytes client = stream_of(flow, Direction::client_to_server);
  auto c = classify_first_packet_rules(first, client, options);
  c.verdicts.push_back(tls_in_tls_verdict(flow));
  return c;
}

std::string_view to_string(Outcome o) {
  switch (o) {
    case Outcome::pass:
      return "pass";
    case Outcome::flag:
      return "flag";
    case Outcome::block:
      return "block";
  }
  return "?";
}

}  // namespace culvert::lab
