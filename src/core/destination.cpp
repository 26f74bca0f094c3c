#include "core/destination.h"

#include <arpa/inet.h>

#include <cstring>

namespace culvert {

std::string Destination::to_string() const {
  if (kind == Kind::ipv6) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

Result<Destination> make_destination(std::string_view host, std::uint16_t port) {
  if (host.empty() || host.size() > 255) return fail(Errc::malformed);
  std::string h(host);
  unsigned char buf[16];
  Destination d;
  d.host = h;
  d.port = port;
  if (inet_pton(AF_INET, h.c_str(), buf) == 1) {
    d.kind = Destination::Kind::ipv4;
  } else if (inet_pton(AF_INET6, h.c_str(), buf) == 1) {
    d.kind = Destination::Kind::ipv6;
  } else {
    for (char c : h)
      if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return fail(Errc::malformed);
    d.kind = Destination::Kind::domain;
  }
  return d;
}

void encode_destination(const Destination& d, Bytes& out) {
  Writer w(out);
  w.u8(static_cast<std::uint8_t>(d.kind));
  unsigned char buf[16];
  switch (d.kind) {
    case Destination::Kind::ipv4:
      inet_pton(AF_INET, d.host.c_str(), buf);
      w.bytes({buf, 4});
      break;
    case Destination::Kind::ipv6:
      inet_pton(AF_INET6, d.host.c_str(), buf);
      w.bytes({buf, 16});
      break;
    case Destination::Kind::domain:
      w.u8(static_cast<std::uint8_t>(d.host.size()));
      w.text(d.host);
      break;
  }
  w.u16(d.port);
}

Result<Destination> decode_destination(Reader& in) {
  auto atyp = in.u8();
  if (!atyp) return fail(Errc::truncated);
  Destination d;
  char text[INET6_ADDRSTRLEN];
  switch (*atyp) {
    case 1: {
      auto a = in.take(4);
      if (!a) return fail(Errc::truncated);
      inet_ntop(AF_INET, a->data(), text, sizeof text);
      d.kind = Destination::Kind::ipv4;
      d.host = text;
      break;
    }
    case 4: {
      auto a = in.take(16);
      if (!a) return fail(Errc::truncated);
      inet_ntop(AF_INET6, a->data(), text, sizeof text);
      d.kind = Destination::Kind::ipv6;
      d.host = text;
      break;
    }
    case 3: {
      auto len = in.u8();
      if (!len) return fail(Errc::truncated);
      if (*len == 0) return fail(Errc::malformed);
      auto name = in.take(*len);
      if (!name) return fail(Errc::truncated);
      // Some applications send an IP literal as a name; it is then treated as the address it is.
      auto made = make_destination(as_chars(*name), 0);
      if (!made) return fail(Errc::malformed);
      d = *made;
      break;
    }
    default:
      return fail(Errc::malformed);
  }
  auto port = in.u16();
  if (!port) return fail(Errc::truncated);
  d.port = *port;
  return d;
}

}  // namespace culvert
