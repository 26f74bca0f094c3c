#include "routing/rule.h"

#include <charconv>

namespace culvert::routing {

std::string Action::to_string() const {
  switch (kind) {
    case Kind::direct:
      return "direct";
    case Kind::block:
      return "block";
    case Kind::proxy:
      break;
  }
  return outbound;
}

namespace {

template <std::size_t N>
bool prefix_matches(const std::array<unsigned char, N>& a, const std::array<unsigned char, N>& b, unsigned prefix) {
  unsigned full = prefix / 8;
  for (unsigned i = 0; i < full; ++i)
    if (a[i] != b[i]) return false;
  unsigned bits = prefix % 8;
  if (bits == 0) return true;
  auto mask = static_cast<unsigned char>(0xFF << (8 - bits));
  return (a[full] & mask) == (b[full] & mask);
}

template <std::size_t N>
void clear_host_bits(std::array<unsigned char, N>& bytes, unsigned prefix) {
  for (unsigned i = 0; i < N; ++i) {
    unsigned bit = i * 8;
    if (bit >= prefix) {
      bytes[i] = 0;
    } else if (prefix - bit < 8) {
      bytes[i] &= static_cast<unsigned char>(0xFF << (8 - (prefix - bit)));
    }
  }
}

}  // namespace

bool Cidr::contains(const asio::ip::address& address) const {
  auto a = address;
  if (a.is_v6() && a.to_v6().is_v4_mapped() && network.is_v4())
    a = asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  if (a.is_v4() != network.is_v4()) return false;
  if (a.is_v4()) return prefix_matches(a.to_v4().to_bytes(), network.to_v4().to_bytes(), prefix);
  return prefix_matches(a.to_v6().to_bytes(), network.to_v6().to_bytes(), prefix);
}

std::optional<Cidr> parse_cidr(std::string_view text) {
  auto slash = text.find('/');
  std::string host(text.substr(0, slash));
  std::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (ec) return std::nullopt;
  unsigned max = address.is_v4() ? 32 : 128;
  unsigned prefix = max;
  if (slash != std::string_view::npos) {
    auto digits = text.substr(slash + 1);
    auto [end, err] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (err != std::errc() || end != digits.data() + digits.size() || digits.empty() || prefix > max)
      return std::nullopt;
  }
  if (address.is_v4()) {
    auto bytes = address.to_v4().to_bytes();
    clear_host_bits(bytes, prefix);
    return Cidr{asio::ip::address_v4(bytes), prefix};
  }
  auto bytes = address.to_v6().to_bytes();
  clear_host_bits(bytes, prefix);
  return Cidr{asio::ip::address_v6(bytes), prefix};
}

std::optional<CountryCode> parse_country(std::string_view text) {
  if (text.size() != 2) return std::nullopt;
  auto upper = [](char c) -> int {
    if (c >= 'a' && c <= 'z') return c - 'a' + 'A';
    if (c >= 'A' && c <= 'Z') return c;
    return -1;
  };
  int a = upper(text[0]);
  int b = upper(text[1]);
  if (a < 0 || b < 0) return std::nullopt;
  return static_cast<CountryCode>(a << 8 | b);
}

std::string normalize_domain(std::string_view name) {
  while (!name.empty() && name.back() == '.') name.remove_suffix(1);
  std::string out(name);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

}  // namespace culvert::routing
