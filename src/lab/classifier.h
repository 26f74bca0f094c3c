// The passive classifier: every rule of docs/censor-model.md over one recorded connection.
#pragma once

#include <optional>

#include "lab/blocklist.h"
#include "lab/client_hello.h"
#include "lab/flow.h"
#include "lab/verdict.h"

namespace culvert::lab {

struct ClassifierOptions {
  Blocklist blocked_names;  // SNI and HTTP Host
};

struct Classification {
  Verdicts verdicts;
  std::optional<ClientHello> client_hello;
  std::string ja3, ja4;

  Outcome worst() const;
  // One JSON object (no newline): {"verdicts":[...],"tls":{...}}.
  std::string to_json() const;
};

// Rules that need only the first client packet (what an inline censor decides on at once).
Classification classify_first_packet_rules(ByteSpan first_client_packet, ByteSpan client_start,
                                           const ClassifierOptions& options);
// All rules over a whole (or partial) connection.
Classification classify(const Flow& flow, const ClassifierOptions& options);

std::string json_escape(std::string_view s);

}  // namespace culvert::lab
