#include "core/startup_retry.h"

#include <gtest/gtest.h>

namespace culvert {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Feeds samples every 500 ms, as the watch does, and records when the policy restarts.
struct Feed {
  StartupRetry policy;
  Clock::time_point now{};
  int restarts = 0;
  // After a restart the kernel reports start-up until BBR leaves it again.
  bool in_startup = false;

  bool step(std::uint64_t bandwidth, bool backlogged = true) {
    now += 500ms;
    bool restart = policy.observe({now, bandwidth, in_startup, backlogged});
    if (restart) ++restarts;
    return restart;
  }
  // Runs for `duration` at `bandwidth`; returns the restarts asked for meanwhile.
  int run(std::chrono::milliseconds duration, std::uint64_t bandwidth, bool backlogged = true) {
    int before = restarts;
    for (auto end = now + duration; now < end;) step(bandwidth, backlogged);
    return restarts - before;
  }
  void startup(std::chrono::milliseconds duration) {
    in_startup = true;
    run(duration, 0);
    in_startup = false;
  }
};

TEST(StartupRetry, NothingHappensDuringStartUpOrTheSettlingAfterIt) {
  Feed f;
  f.startup(3s);
  EXPECT_EQ(f.restarts, 0);
  EXPECT_EQ(f.run(StartupRetry::kSettle - 500ms, 1'000'000), 0);
}

TEST(StartupRetry, AnIdleSenderIsNeverRestarted) {
  Feed f;
  f.startup(2s);
  EXPECT_EQ(f.run(300s, 1'000'000, /*backlogged=*/false), 0);
}

// A start-up that ended low on a lossy path is tried again; if the next one finds much more, the
// policy keeps trying at the short interval.
TEST(StartupRetry, ABackloggedSenderRetriesStartUpAndKeepsTheShortIntervalWhileItHelps) {
  Feed f;
  f.startup(2s);
  // First retry as soon as the start-up has settled (2 s).
  EXPECT_EQ(f.run(StartupRetry::kFirstRetry - 500ms, 300'000), 0);
  EXPECT_EQ(f.run(1s, 300'000), 1);
  f.startup(2s);
  // The new start-up found 5x: the retry counts as a success once it settled.
  EXPECT_EQ(f.run(StartupRetry::kSettle + 500ms, 1'500'000), 0);
  EXPECT_EQ(f.policy.interval_for_test(), StartupRetry::kRetryAfterSuccess);
}

// On a path that is at its capacity retries gain nothing, so they become rare: 2, 4, 8 ... 64 s.
TEST(StartupRetry, RetriesThatDoNotHelpBackOffToOncePerMinute) {
  Feed f;
  f.startup(2s);
  std::vector<Clock::time_point> at;
  for (int i = 0; i < 7; ++i) {
    while (!f.step(10'000'000)) {
    }
    at.push_back(f.now);
    f.startup(1s);
  }
  ASSERT_EQ(at.size(), 7u);
  // Gaps between restarts: interval + the 1 s start-up, doubling up to the ceiling.
  std::vector<long> gaps;
  for (std::size_t i = 1; i < at.size(); ++i)
    gaps.push_back(std::chrono::duration_cast<std::chrono::seconds>(at[i] - at[i - 1]).count());
  EXPECT_EQ(gaps, (std::vector<long>{5, 9, 17, 33, 65, 65}));
}

// An idle restart that lost the draw (the estimate is under a third of what this tunnel reached a
// moment ago) is corrected as soon as the new start-up has settled, not after the retry interval.
TEST(StartupRetry, ARegressionBelowAThirdOfTheRecentBestRestartsAtOnce) {
  Feed f;
  f.startup(2s);
  f.run(StartupRetry::kSettle, 9'000'000, /*backlogged=*/false);
  f.policy.restarted_elsewhere();  // an idle restart
  f.startup(2s);
  EXPECT_EQ(f.run(StartupRetry::kSettle, 2'000'000), 0);
  EXPECT_EQ(f.run(500ms, 2'000'000), 1);
}

// A path that really got slower is accepted after one retry that did not help.
TEST(StartupRetry, APathThatGotSlowerIsAcceptedAfterOneRetry) {
  Feed f;
  f.startup(2s);
  f.run(StartupRetry::kSettle, 9'000'000, false);
  f.policy.restarted_elsewhere();
  f.startup(2s);
  EXPECT_EQ(f.run(StartupRetry::kSettle + 500ms, 2'000'000), 1);
  f.startup(2s);
  // Still 2 MB/s after the retry: best lowered, interval doubled, no restart until it is due.
  EXPECT_EQ(f.run(StartupRetry::kSettle + 500ms, 2'000'000), 0);
  EXPECT_EQ(f.policy.best_for_test(), 2'000'000u);
  EXPECT_EQ(f.policy.interval_for_test(), 2 * StartupRetry::kFirstRetry);
  EXPECT_EQ(f.run(2 * StartupRetry::kFirstRetry - StartupRetry::kSettle - 1s, 2'000'000), 0);
}

// What the tunnel reached more than two minutes ago no longer counts as its best.
TEST(StartupRetry, TheBestIsForgottenAfterTwoMinutes) {
  Feed f;
  f.startup(2s);
  f.run(StartupRetry::kSettle, 9'000'000, false);
  f.run(StartupRetry::kBestWindow + 1s, 1'000'000, false);
  EXPECT_EQ(f.policy.best_for_test(), 1'000'000u);
}

}  // namespace
}  // namespace culvert
