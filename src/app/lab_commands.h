// `culvert lab ...`: the censor emulator on the command line.
#pragma once

#include <string>

#include "lab/relay.h"

namespace culvert::app {

struct LabRelayArgs {
  lab::RelayOptions options;
  std::string action = "observe";
  std::string blocklist_file;
  std::string output_file;
  int residual_seconds = 180;
};

int lab_classify(const std::string& flow_file, const std::string& blocklist_file);
int lab_fingerprint(const std::string& hello_file);
int lab_relay(LabRelayArgs args);

}  // namespace culvert::app
