// Renders text as a QR code for a terminal (libqrencode, two modules per character cell).
#pragma once

#include <string>

namespace culvert {

// Returns the QR code as lines of Unicode half blocks with a quiet zone, or "" if encoding fails.
std::string render_qr(const std::string& text);

}  // namespace culvert
