// Keeps a tunnel socket's congestion control as quick as a fresh connection's, for as long as the
// tunnel lives: after an idle spell (restart_congestion_after_idle) and while a transfer runs on an
// estimate that start-up left too low (StartupRetry). Used by the side that sends: the mux session
// calls on_write() before each write. Lives on the session's executor; the socket must outlive it.
#pragma once

#include <chrono>
#include <cstdint>

#include "core/startup_retry.h"

namespace culvert {

class CongestionWatch {
 public:
  explicit CongestionWatch(int fd) : fd_(fd) {}

  // `waited`: the sender waited for data before this write (the tunnel may have sat idle).
  void on_write(bool waited);

  std::uint64_t restarts() const { return restarts_; }

 private:
  static constexpr std::chrono::milliseconds kSampleEvery{500};
  int fd_;
  StartupRetry retry_;
  std::chrono::steady_clock::time_point next_sample_{};
  std::uint64_t restarts_ = 0;
};

}  // namespace culvert
