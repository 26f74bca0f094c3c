#include "lab/flow.h"

#include <charconv>

#include "crypto/crypto.h"

namespace culvert::lab {

std::string format_flow(const Flow& flow) {
  std::string out;
  for (const auto& s : flow) {
    out += s.direction == Direction::client_to_server ? "C " : "S ";
    out += std::to_string(s.time_ms);
    out += ' ';
    out += crypto::hex_encode(s.bytes);
    out += '\n';
  }
  return out;
}

Result<Flow> parse_flow(std::string_view text) {
  Flow flow;
  while (!text.empty()) {
    auto eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    if (line.size() < 4 || (line[0] != 'C' && line[0] != 'S') || line[1] != ' ') return fail(Errc::malformed);
    Segment s;
    s.direction = line[0] == 'C' ? Direction::client_to_server : Direction::server_to_client;
    auto rest = line.substr(2);
    auto sp = rest.find(' ');
    if (sp == std::string_view::npos) return fail(Errc::malformed);
    auto [p, ec] = std::from_chars(rest.data(), rest.data() + sp, s.time_ms);
    if (ec != std::errc() || p != rest.data() + sp) return fail(Errc::malformed);
    auto hex = rest.substr(sp + 1);
    if (hex.size() % 2) return fail(Errc::malformed);
    s.bytes.reserve(hex.size() / 2);
    for (std::size_t i = 0; i < hex.size(); i += 2) {
      unsigned v = 0;
      auto [q, e2] = std::from_chars(hex.data() + i, hex.data() + i + 2, v, 16);
      if (e2 != std::errc() || q != hex.data() + i + 2) return fail(Errc::malformed);
      s.bytes.push_back(static_cast<std::uint8_t>(v));
    }
    flow.push_back(std::move(s));
  }
  return flow;
}

Bytes stream_of(const Flow& flow, Direction direction) {
  Bytes out;
  for (const auto& s : flow)
    if (s.direction == direction) out.insert(out.end(), s.bytes.begin(), s.bytes.end());
  return out;
}

}  // namespace culvert::lab
