// The built-in cover website's pages: a small, plausible personal site (a hiking and landscape
// photography journal), compiled into the binary so a fresh server needs no web root.
#pragma once

#include <cstdint>
#include <span>
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
// Every file of the site (without the "/" alias), e.g. to write them out for a reference server.
std::span<const CoverPage> cover_files();
// The files' modification time (their Last-Modified), seconds since the epoch.
std::int64_t cover_modified_time();

}  // namespace culvert
