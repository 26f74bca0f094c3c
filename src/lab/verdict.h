// What one passive rule says about one connection.
#pragma once

#include <string>
#include <vector>

namespace culvert::lab {

enum class Outcome {
  pass,   // the rule does not apply or the traffic is exempt
  flag,   // suspicious; the literature does not show this alone leads to blocking
  block,  // the published censor blocks on this (possibly with a probability, see reason)
};

std::string_view to_string(Outcome o);

struct Verdict {
  std::string rule;  // short id, e.g. "fully-encrypted"
  Outcome outcome = Outcome::pass;
  std::string reason;  // human-readable, with the numbers that decided
  std::string source;  // the publication the rule implements
};

using Verdicts = std::vector<Verdict>;

}  // namespace culvert::lab
