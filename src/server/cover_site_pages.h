// The built-in cover website's pages: a small, plausible personal site (a hiking and landscape
// photography journal), compiled into the binary so a fresh server needs no web root.
#pragma once

#include <string_view>

namespace culvert {

struct CoverPage {
  std::string_view path;
  std::string_view content_type;
  std::string_view last_modified;
  std::string_view body;
};

// The page at `path` ("/" and "/index.html" are the same page), or nullptr.
const CoverPage* find_cover_page(std::string_view path);

}  // namespace culvert
