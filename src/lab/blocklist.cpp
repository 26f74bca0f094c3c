#include "lab/blocklist.h"

#include <algorithm>
#include <cctype>

namespace culvert::lab {
namespace {

std::string normalise(std::string_view name) {
  std::string out(name);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  while (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

}  // namespace

void Blocklist::add(std::string name) {
  auto n = normalise(name);
  if (!n.empty()) names_.insert(std::move(n));
}

Blocklist Blocklist::parse(std::string_view text) {
  Blocklist list;
  while (!text.empty()) {
    auto eol = text.find('\n');
    auto line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);
    auto hash = line.find('#');
    line = line.substr(0, hash);
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.remove_suffix(1);
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.front()))) line.remove_prefix(1);
    if (!line.empty()) list.add(std::string(line));
  }
  return list;
}

std::string Blocklist::match(std::string_view name) const {
  std::string n = normalise(name);
  std::string_view rest = n;
  while (!rest.empty()) {
    if (names_.count(std::string(rest))) return std::string(rest);
    auto dot = rest.find('.');
    if (dot == std::string_view::npos) break;
    rest.remove_prefix(dot + 1);
  }
  return "";
}

}  // namespace culvert::lab
