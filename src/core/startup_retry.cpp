#include "core/startup_retry.h"

#include <algorithm>

namespace culvert {

bool StartupRetry::observe(const CongestionSample& sample) {
  if (sample.in_startup) {
    startup_ended_.reset();
    return false;
  }
  if (!startup_ended_) startup_ended_ = sample.now;
  auto since_startup = sample.now - *startup_ended_;

  if (judging_from_ && since_startup >= kSettle) {
    // Judged once the new start-up has settled: did it raise the estimate by half?
    if (sample.bandwidth * 2 >= *judging_from_ * 3) {
      interval_ = kRetryAfterSuccess;
    } else {
      interval_ = std::min(interval_ * 2, kLongestInterval);
      // The path gives what it gives now; do not chase an older, higher figure.
      best_ = std::max(sample.bandwidth, *judging_from_);
      best_at_ = sample.now;
    }
    judging_from_.reset();
  }
  if (sample.bandwidth >= best_ || sample.now - best_at_ > kBestWindow) {
    best_ = sample.bandwidth;
    best_at_ = sample.now;
  }
  if (since_startup < kSettle || !sample.backlogged) return false;

  bool regressed = sample.bandwidth * 3 < best_;
  bool due = since_startup >= interval_;
  if (!regressed && !due) return false;
  judging_from_ = sample.bandwidth;
  startup_ended_.reset();
  return true;
}

void StartupRetry::restarted_elsewhere() {
  startup_ended_.reset();
  judging_from_.reset();
  interval_ = kFirstRetry;
}

}  // namespace culvert
