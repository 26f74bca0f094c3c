#include "admin/qr.h"

#include <png.h>
#include <qrencode.h>

#include <memory>
#include <vector>

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

std::string render_qr_png(const std::string& text, int scale) {
  std::unique_ptr<QRcode, decltype(&QRcode_free)> code(QRcode_encodeString(text.c_str(), 0, QR_ECLEVEL_L, QR_MODE_8, 1),
                                                       &QRcode_free);
  if (!code || scale < 1 || scale > 32) return "";
  constexpr int kQuiet = 4;
  const int modules = code->width + 2 * kQuiet;
  const int pixels = modules * scale;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  if (!png) return "";
  png_infop info = png_create_info_struct(png);
  // Everything libpng's error longjmp could skip over is constructed before setjmp.
  std::string out;
  std::vector<png_byte> row(static_cast<std::size_t>(pixels));
  if (!info || setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, info ? &info : nullptr);
    return "";
  }
  png_set_write_fn(
      png, &out,
      [](png_structp p, png_bytep data, png_size_t length) {
        static_cast<std::string*>(png_get_io_ptr(p))->append(reinterpret_cast<const char*>(data), length);
      },
      nullptr);
  png_set_IHDR(png, info, static_cast<png_uint_32>(pixels), static_cast<png_uint_32>(pixels), 8, PNG_COLOR_TYPE_GRAY,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < pixels; ++y) {
    int my = y / scale - kQuiet;
    for (int x = 0; x < pixels; ++x) {
      int mx = x / scale - kQuiet;
      bool dark =
          mx >= 0 && my >= 0 && mx < code->width && my < code->width && (code->data[my * code->width + mx] & 1) != 0;
      row[static_cast<std::size_t>(x)] = dark ? 0 : 255;
    }
    png_write_row(png, row.data());
  }
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

}  // namespace culvert
