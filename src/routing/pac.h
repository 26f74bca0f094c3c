// Proxy auto-config (PAC) file generated from the rule list, served by the client at
// http://<proxy>/proxy.pac. The PAC only decides what may go DIRECT: every other request goes to
// Culvert's proxy port, where the full rules apply (block, the chosen outbound, ports, networks).
// A rule whose conditions a PAC cannot see (ports, networks, inbounds, GeoIP) therefore sends
// what it might match to the proxy, so the PAC never sends direct what the rules would not.
// Pure text generation.
#pragma once

#include <string>
#include <vector>

#include "routing/rule.h"

namespace culvert::routing {

// `proxy_host_port` is what browsers connect to, e.g. "127.0.0.1:1080".
std::string generate_pac(const std::vector<Rule>& rules, const Action& final_action,
                         const std::string& proxy_host_port);

}  // namespace culvert::routing
