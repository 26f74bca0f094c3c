// Name blocklists for SNI and HTTP Host (Rambert et al., WWW 2021; GFW Report on ESNI, 2020):
// a name matches an entry equal to it or to one of its parent domains.
#pragma once

#include <string>
#include <unordered_set>

#include "core/result.h"

namespace culvert::lab {

class Blocklist {
 public:
  void add(std::string name);
  // One name per line; blank lines and '#' comments ignored.
  static Blocklist parse(std::string_view text);
  // The matching entry, or "" if none.
  std::string match(std::string_view name) const;
  bool empty() const { return names_.empty(); }

 private:
  std::unordered_set<std::string> names_;
};

}  // namespace culvert::lab
