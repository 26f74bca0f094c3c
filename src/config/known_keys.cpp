#include "config/known_keys.h"

#include <algorithm>

namespace culvert {
namespace {

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

bool check_table(const toml::table& table, const std::string& name, const KeySchema& schema, const std::string& source,
                 std::string& message) {
  auto known = schema.find(name);
  if (known == schema.end()) return true;
  for (const auto& [key, node] : table) {
    std::string_view k = key.str();
    bool is_known = std::find(known->second.begin(), known->second.end(), k) != known->second.end();
    if (!is_known) {
      message = (source.empty() ? "line " : source + ":") + std::to_string(key.source().begin.line) +
                ": unknown key \"" + std::string(k) + "\"";
      if (!name.empty()) message += " in [" + name + "]";
      auto guess = nearest_key(k, known->second);
      if (!guess.empty()) {
        message += " (did you mean \"" + guess + "\"?)";
        return false;
      }
      // A key of another table, written where TOML puts it in this one (after a [section]).
      for (const auto& [other, keys] : schema) {
        if (other == name) continue;
        auto elsewhere = nearest_key(k, keys);
        if (elsewhere.empty()) continue;
        message +=
            " (did you mean \"" + elsewhere + "\"? it belongs " +
            (other.empty() ? std::string("at the top of the file, before any [section]") : "in [" + other + "]") + ")";
        break;
      }
      return false;
    }
    if (auto* sub = node.as_table()) {
      if (!check_table(*sub, std::string(k), schema, source, message)) return false;
    } else if (auto* array = node.as_array()) {
      for (const auto& element : *array)
        if (auto* sub = element.as_table(); sub && !check_table(*sub, std::string(k), schema, source, message))
          return false;
    }
  }
  return true;
}

}  // namespace

std::string nearest_key(std::string_view key, const std::vector<std::string_view>& known) {
  std::string best;
  std::size_t best_distance = key.size() / 3 + 1;
  for (auto candidate : known) {
    std::size_t d = edit_distance(key, candidate);
    if (d < best_distance || (best.empty() && candidate.starts_with(key) && key.size() >= 3)) {
      best_distance = std::min(d, best_distance);
      best = std::string(candidate);
    }
  }
  return best;
}

bool check_known_keys(const toml::table& root, const KeySchema& schema, const std::string& source,
                      std::string& message) {
  return check_table(root, "", schema, source, message);
}

}  // namespace culvert
