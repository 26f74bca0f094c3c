// Whole-file reads and private writes for configuration, rule sets, keys, certificates and
// resolver files (small files).
#pragma once

#include <optional>
#include <string>

namespace culvert {

// The file's bytes, or nullopt when it cannot be opened.
std::optional<std::string> read_file(const std::string& path);

// Replaces `path` with `contents`, readable by the owner only (0600): written to a temporary file
// beside it first and renamed over it, so a reader never sees half a key or certificate.
bool write_private_file(const std::string& path, const std::string& contents);

}  // namespace culvert
