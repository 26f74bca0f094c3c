// Fuzzes the Initial shaper's reading of what a server sends (quic/initial_shaper.h, restore()):
// the input is the plaintext payload of a server Initial, which the target protects with the
// Initial keys so that the shaper's frame walker sees it, as it would a hostile server's. The
// datagram must keep its size; nothing may crash or leak. Then the same bytes as a client Initial
// go through shape(), which must give a datagram no smaller than it was.
#include "quic/initial_shaper.h"
#include "quic/transport_parameters.h"

namespace {

const culvert::Bytes kDestination{1, 2, 3, 4, 5, 6, 7, 8};

culvert::Bytes protect(culvert::ByteSpan payload, bool server) {
  using namespace culvert::quic;
  auto secrets = initial_secrets(kDestination, kVersion1).value();
  auto keys = packet_keys(initial_suite(), server ? secrets.server : secrets.client, kVersion1).value();
  culvert::Bytes header{0xc1, 0, 0, 0, 1, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0};
  std::size_t length = 2 + payload.size() + kTagSize;
  header.push_back(static_cast<std::uint8_t>(0x40 | (length >> 8)));
  header.push_back(static_cast<std::uint8_t>(length));
  header.push_back(0);
  header.push_back(5);  // packet number 5
  auto packet = protect_packet(keys, header, 5, payload);
  return packet ? *packet : culvert::Bytes{};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 20 || size > 1400) return 0;  // a sample needs 20 bytes; a datagram is at most this
  auto shaper = culvert::quic::InitialShaper::create(kDestination, culvert::quic::kVersion1);
  if (!shaper) __builtin_trap();
  culvert::ByteSpan payload(data, size);
  culvert::Bytes datagram = protect(payload, true);
  const std::size_t before = datagram.size();
  shaper->restore(datagram);
  if (datagram.size() != before) __builtin_trap();
  culvert::Bytes ours = protect(payload, false);
  if (shaper->shape(ours).size() < ours.size()) __builtin_trap();
  return 0;
}
