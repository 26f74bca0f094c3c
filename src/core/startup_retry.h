// When a long-lived tunnel's BBR should run its start-up again while data is flowing. Pure policy:
// fed samples of the connection's state, it answers "restart" or "leave it"; the socket side is in
// core/congestion_watch.h. Not thread-safe; one per tunnel socket.
//
// Why: on a path with random loss (several percent, as on China-abroad links in the evening) BBR's
// start-up often ends early, because packet conservation in loss recovery flattens the delivery
// rate for three rounds and BBR takes that for a full pipe. From there it climbs by 25 % per eight
// round trips: measured at 15 % loss on a 100 Mbit/s, 180 ms path, 2.6 Mbit/s at the end of start-up
// and 19 Mbit/s half a minute later, where another start-up on the same path reached 40 Mbit/s.
// Whether start-up ends early is chance, so the policy tries again, and learns from the outcome:
//  - a regression: the estimate fell under a third of the best this tunnel reached in the last two
//    minutes (an idle restart or a retry that lost the draw) -> start-up again at once;
//  - a retry: the sender is backlogged and the estimate has not been questioned for `interval`
//    (2 s after a tunnel's first start-up or one after idle, as soon as it has settled; 4 s after
//    a retry that raised the estimate by half; doubling to 64 s each time one did not) -> start-up
//    again. The first retry was at 4 s until a 5 % run showed a fresh tunnel's first download
//    spending those seconds at 7 Mbit/s.
// A retry that did not help also lowers the remembered best to what the path gives now, so a path
// that really got slower (other traffic, a throttled line) is not restarted over and over. Every
// restart keeps the connection's window and RTT; it only forgets the bandwidth model.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

namespace culvert {

struct CongestionSample {
  std::chrono::steady_clock::time_point now;
  std::uint64_t bandwidth = 0;  // BBR's bandwidth estimate, bytes per second
  bool in_startup = false;      // BBR is in its start-up (or drain) phase
  bool backlogged = false;      // data was waiting in the socket: the estimate, not the sender, limits
};

class StartupRetry {
 public:
  static constexpr std::chrono::milliseconds kSettle{2000};  // after start-up, before judging
  static constexpr std::chrono::milliseconds kFirstRetry{2000};
  static constexpr std::chrono::milliseconds kRetryAfterSuccess{4000};
  static constexpr std::chrono::milliseconds kLongestInterval{64000};
  static constexpr std::chrono::seconds kBestWindow{120};

  // True: re-initialise BBR now (the caller does; the policy assumes it happened).
  bool observe(const CongestionSample& sample);

  // Tells the policy that the algorithm was re-initialised for another reason (after idle).
  void restarted_elsewhere();

  std::chrono::milliseconds interval_for_test() const { return interval_; }
  std::uint64_t best_for_test() const { return best_; }

 private:
  std::optional<std::chrono::steady_clock::time_point> startup_ended_;
  std::uint64_t best_ = 0;
  std::chrono::steady_clock::time_point best_at_{};
  std::chrono::milliseconds interval_ = kFirstRetry;
  std::optional<std::uint64_t> judging_from_;  // the estimate before the last retry, until judged
};

}  // namespace culvert
