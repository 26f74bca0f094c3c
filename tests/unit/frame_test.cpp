#include "mux/frame.h"

#include <gtest/gtest.h>

namespace culvert::mux {

TEST(Frame, RoundTripsData) {
  Bytes out;
  Bytes payload{1, 2, 3};
  encode_frame(FrameType::data, 0, 7, payload, out);
  ASSERT_EQ(out.size(), kHeaderSize + 3);
  std::size_t used = 0;
  auto f = decode_frame(out, used);
  ASSERT_TRUE(f && *f);
  EXPECT_EQ((*f)->type, FrameType::data);
  EXPECT_EQ((*f)->stream_id, 7u);
  EXPECT_EQ(Bytes((*f)->payload.begin(), (*f)->payload.end()), payload);
  EXPECT_EQ(used, out.size());
}

TEST(Frame, PartialFrameAsksForMore) {
  Bytes out;
  encode_frame(FrameType::data, 0, 1, Bytes(100, 9), out);
  for (std::size_t n = 0; n < out.size(); ++n) {
    std::size_t used = 99;
    auto f = decode_frame(ByteSpan(out).first(n), used);
    ASSERT_TRUE(f) << n;
    EXPECT_FALSE(*f) << n;
    EXPECT_EQ(used, 0u);
  }
}

TEST(Frame, RejectsOversizedUnknownAndMisplacedFrames) {
  std::size_t used;
  Bytes big;
  encode_header(FrameType::data, 0, 1, kMaxPayload + 1, big);
  EXPECT_EQ(decode_frame(big, used).error(), Errc::too_large);
  Bytes unknown{99, 0, 0, 0, 0, 0, 0, 1};
  EXPECT_EQ(decode_frame(unknown, used).error(), Errc::protocol_violation);
  Bytes data_on_zero;
  encode_frame(FrameType::data, 0, 0, Bytes{1}, data_on_zero);
  EXPECT_EQ(decode_frame(data_on_zero, used).error(), Errc::protocol_violation);
  Bytes ping_on_stream;
  encode_frame(FrameType::ping, 0, 3, Bytes(8, 0), ping_on_stream);
  EXPECT_EQ(decode_frame(ping_on_stream, used).error(), Errc::protocol_violation);
  Bytes short_window;
  encode_frame(FrameType::window, 0, 3, Bytes{1, 2}, short_window);
  EXPECT_EQ(decode_frame(short_window, used).error(), Errc::protocol_violation);
  Bytes fin_with_body;
  encode_frame(FrameType::fin, 0, 3, Bytes{1}, fin_with_body);
  EXPECT_EQ(decode_frame(fin_with_body, used).error(), Errc::protocol_violation);
}

TEST(Frame, OpenPayloadCarriesDestinationAndFirstData) {
  auto d = make_destination("example.org", 443);
  ASSERT_TRUE(d);
  Bytes payload;
  Bytes first{'h', 'i'};
  encode_open_payload(*d, first, payload);
  auto open = decode_open_payload(payload);
  ASSERT_TRUE(open);
  EXPECT_EQ(open->destination, *d);
  EXPECT_EQ(Bytes(open->first_data.begin(), open->first_data.end()), first);
  EXPECT_FALSE(decode_open_payload(Bytes{3, 5, 'a'}));
}

}  // namespace culvert::mux
