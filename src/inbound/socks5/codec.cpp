#include "inbound/socks5/codec.h"

namespace culvert::socks5 {

Result<Greeting> parse_greeting(ByteSpan input) {
  Reader r(input);
  auto version = r.u8();
  if (!version) return fail(Errc::truncated);
  if (*version != kVersion) return fail(Errc::malformed);
  auto count = r.u8();
  if (!count) return fail(Errc::truncated);
  if (*count == 0) return fail(Errc::malformed);
  auto methods = r.take(*count);
  if (!methods) return fail(Errc::truncated);
  return Greeting{Bytes(methods->begin(), methods->end()), r.position()};
}

Result<Request> parse_request(ByteSpan input) {
  Reader r(input);
  auto version = r.u8();
  auto command = r.u8();
  auto reserved = r.u8();
  if (!reserved) return fail(Errc::truncated);
  if (*version != kVersion || *reserved != 0) return fail(Errc::malformed);
  auto destination = decode_destination(r);
  if (!destination) return fail(destination.error());
  if (*command < 1 || *command > 3) return fail(Errc::unsupported);
  return Request{static_cast<Command>(*command), *destination, r.position()};
}

Reply reply_for_error(ByteSpan input) {
  if (input.size() >= 2 && (input[1] < 1 || input[1] > 3)) return Reply::command_not_supported;
  if (input.size() >= 4 && input[3] != 1 && input[3] != 3 && input[3] != 4) return Reply::address_type_not_supported;
  return Reply::general_failure;
}

Bytes encode_method_choice(std::uint8_t method) { return Bytes{kVersion, method}; }

Bytes encode_reply(Reply reply) {
  return Bytes{kVersion, static_cast<std::uint8_t>(reply), 0x00, 0x01, 0, 0, 0, 0, 0, 0};
}

Bytes encode_reply(Reply reply, const Destination& bound) {
  Bytes out{kVersion, static_cast<std::uint8_t>(reply), 0x00};
  encode_destination(bound, out);
  return out;
}

Result<UdpHeader> parse_udp_header(ByteSpan datagram) {
  Reader r(datagram);
  auto reserved = r.u16();
  auto fragment = r.u8();
  if (!reserved || !fragment || *reserved != 0) return fail(Errc::malformed);
  auto destination = decode_destination(r);
  if (!destination) return fail(Errc::malformed);
  return UdpHeader{*fragment, std::move(*destination), datagram.size() - r.rest().size()};
}

Bytes encode_udp_header(const Destination& source) {
  Bytes out{0, 0, 0};
  encode_destination(source, out);
  return out;
}

}  // namespace culvert::socks5
