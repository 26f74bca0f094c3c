// Fuzzes what reaches a CDN session from outside: request bodies of segments (split anywhere,
// changed, foreign), the handshake's first message and its payload, and chunked request bodies.
// Nothing may crash, read out of bounds, deliver unauthenticated bytes or grow without bound.
#include <cstdint>

#include "cover/chunked_body.h"
#include "crypto/crypto.h"
#include "transport/cdn/channel.h"
#include "transport/cdn/noise.h"
#include "transport/cdn/session_gate.h"

using namespace culvert;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  ByteSpan input(data, size);
  std::uint8_t mode = data[0] % 4;
  input = input.subspan(1);
  if (mode == 0) {
    // Segments under keys the input cannot know: nothing is ever delivered.
    cdn::Channel channel(cdn::Key{1}, cdn::Key{2}, cdn::ChannelLimits{1 << 20, 1 << 20});
    cdn::SegmentParser parser;
    std::size_t cut = input.empty() ? 0 : input[0] % (input.size() + 1);
    (void)channel.receive_bytes(parser, input.first(cut));
    (void)channel.receive_bytes(parser, input.subspan(cut));
    if (!channel.delivered().empty() || channel.next_expected() != 0) __builtin_trap();
  } else if (mode == 1) {
    // Genuine segments from a peer, then the input's bytes spliced in: whatever arrives intact is
    // delivered in order, nothing else.
    cdn::Channel sender(cdn::Key{3}, cdn::Key{4});
    cdn::Channel receiver(cdn::Key{4}, cdn::Key{3});
    sender.push(as_bytes("first"));
    sender.push(as_bytes("second"));
    Bytes wire;
    auto a = sender.segment(0);
    auto b = sender.segment(1);
    wire.insert(wire.end(), a.begin(), a.end());
    wire.insert(wire.end(), input.begin(), input.end());
    wire.insert(wire.end(), b.begin(), b.end());
    cdn::SegmentParser parser;
    (void)receiver.receive_bytes(parser, wire);
    std::string got(receiver.delivered().begin(), receiver.delivered().end());
    if (got != "first" && got != "firstsecond") __builtin_trap();
  } else if (mode == 2) {
    cdn::Key key{};
    key[0] = 7;
    auto responder = cdn::Responder::create(key, cdn::handshake_prologue("AAAAAAAAAAAAAAAAAAAAAA"));
    if (responder) (void)(*responder)->read_message1(input);
    (void)cdn::parse_hello_payload(input);
  } else {
    cover::ChunkedDecoder decoder;
    Bytes out;
    auto used = decoder.feed(input, out);
    if (used && (*used > input.size() || out.size() > input.size())) __builtin_trap();
  }
  return 0;
}
