#include "admin/qr.h"

#include <qrencode.h>

namespace culvert {

std::string render_qr(const std::string& text) {
  QRcode* code = QRcode_encodeString(text.c_str(), 0, QR_ECLEVEL_L, QR_MODE_8, 1);
  if (!code) return "";
  const int size = code->width;
  constexpr int kQuiet = 4;  // the quiet zone ISO/IEC 18004 asks for
  auto dark = [&](int x, int y) {
    if (x < 0 || y < 0 || x >= size || y >= size) return false;
    return (code->data[y * size + x] & 1) != 0;
  };
  // Light modules are drawn as blocks (light on a dark terminal scans as inverted codes do not).
  std::string out;
  for (int y = -kQuiet; y < size + kQuiet; y += 2) {
    for (int x = -kQuiet; x < size + kQuiet; ++x) {
      bool top = !dark(x, y);
      bool bottom = !dark(x, y + 1);
      if (top && bottom)
        out += "\u2588";
      else if (top)
        out += "\u2580";
      else if (bottom)
        out += "\u2584";
      else
        out += " ";
    }
    out += "\n";
  }
  QRcode_free(code);
  return out;
}

}  // namespace culvert
