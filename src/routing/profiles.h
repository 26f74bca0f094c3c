// Ready-made rule lists. "bypass-cn": local networks and mainland China direct, everything else
// through the tunnel — what most users in China want day to day (domestic sites are faster direct,
// and many refuse foreign addresses). The domain list is a starter set of the largest domestic
// services; docs/routing.md explains loading the fuller community lists as rule sets.
#pragma once

#include <optional>
#include <string_view>

#include "routing/rule.h"

namespace culvert::routing {

// Rules for `profile` ("bypass-cn" or "global": everything proxied but local networks), to be
// placed after the user's own rules. `with_geoip` adds the GEOIP,CN direct rule.
std::optional<std::vector<Rule>> profile_rules(std::string_view profile, bool with_geoip);

}  // namespace culvert::routing
