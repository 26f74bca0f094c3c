// Unknown keys in a TOML configuration are mistakes (`max_tunels = 5` would silently mean no
// limit): they are refused with the file, the line and the nearest known key.
// Pure code over toml++; used by the server and client configuration parsers.
#pragma once

#include <toml++/toml.h>

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace culvert {

// For each table — "" the top level, "cover", "server" (each table of an array of tables) — the
// keys it may hold. A key naming a table of the schema is a known key of its parent.
using KeySchema = std::map<std::string, std::vector<std::string_view>>;

// True if every key of `root` is known; else `message` is
// `SOURCE:LINE: unknown key "max_tunels" (did you mean "max_tunnels"?)`.
bool check_known_keys(const toml::table& root, const KeySchema& schema, const std::string& source,
                      std::string& message);

// The known key closest to `key` (edit distance at most a third of its length, or a prefix); "".
std::string nearest_key(std::string_view key, const std::vector<std::string_view>& known);

}  // namespace culvert
