// QR codes of share links (libqrencode): for a terminal (two modules per character cell) and as a
// PNG image (libpng) for the admin API.
#pragma once

#include <string>

namespace culvert {

// Returns the QR code as lines of Unicode half blocks with a quiet zone, or "" if encoding fails.
std::string render_qr(const std::string& text);
// The QR code as a grey-scale PNG, `scale` pixels per module, with the quiet zone; "" on failure.
std::string render_qr_png(const std::string& text, int scale = 8);

}  // namespace culvert
