// Fuzzes the lab's QUIC Initial reader. Random bytes rarely pass an Initial's AEAD tag, so the
// first byte chooses: even, the input is a datagram (header parsing, header protection, the tag);
// odd, the rest is an opened payload (frames, CRYPTO reassembly, the ClientHello and its
// transport parameters).
#include "lab/quic_initial.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  culvert::ByteSpan rest(data + 1, size - 1);
  if (data[0] % 2 == 0) {
    culvert::ByteSpan datagrams[] = {rest, rest};
    (void)culvert::lab::read_client_initial(datagrams);
    return 0;
  }
  culvert::lab::QuicInitialPacket packet;
  if (!culvert::lab::parse_initial_frames(rest, packet)) return 0;
  std::vector<culvert::lab::QuicInitialPacket> packets{packet};
  if (auto initial = culvert::lab::client_initial_from_packets(std::move(packets))) {
    auto fingerprint = culvert::lab::quic_fingerprint(*initial);
    if (fingerprint.empty() || fingerprint[0] != 'q') __builtin_trap();
  }
  return 0;
}
