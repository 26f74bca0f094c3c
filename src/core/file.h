// Whole-file reads for configuration, rule sets, key and resolver files (small text files).
#pragma once

#include <optional>
#include <string>

namespace culvert {

// The file's bytes, or nullopt when it cannot be opened.
std::optional<std::string> read_file(const std::string& path);

}  // namespace culvert
