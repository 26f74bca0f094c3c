#include "core/bytes.h"

#include <gtest/gtest.h>

namespace culvert {

TEST(Reader, ReportsTruncationInsteadOfReadingPastTheEnd) {
  Bytes data{0x01, 0x02, 0x03};
  Reader r(data);
  EXPECT_EQ(r.u16(), 0x0102);
  EXPECT_FALSE(r.u16().has_value());
  EXPECT_EQ(r.u8(), 0x03);
  EXPECT_FALSE(r.u8().has_value());
}

TEST(Writer, WritesBigEndian) {
  Bytes out;
  Writer w(out);
  w.u16(0x0102);
  w.u32(0x03040506);
  EXPECT_EQ(out, (Bytes{1, 2, 3, 4, 5, 6}));
}

}  // namespace culvert
