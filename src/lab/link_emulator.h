// A user-space link emulator for tests of long, lossy paths (this kernel has no netem): a TUN
// device in each of two network namespaces, joined by this forwarder, which adds a one-way delay,
// a bottleneck rate with a drop-tail queue, and random loss per direction (seeded, repeatable).
// Runs on its own thread of control (blocking poll loop); Linux only; needs CAP_NET_ADMIN.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "core/result.h"

namespace culvert::lab {

struct LinkDirection {
  std::chrono::microseconds delay{0};
  double loss = 0;  // probability that a packet is dropped
};

struct LinkOptions {
  std::string namespace_a, namespace_b;  // names under /var/run/netns (ip netns add)
  std::string device = "cvlink0";        // TUN device name in both namespaces
  LinkDirection a_to_b, b_to_a;
  double rate_mbit = 0;                  // bottleneck in each direction; 0: unlimited
  std::size_t queue_bytes = 256 * 1024;  // drop-tail queue in front of the bottleneck
  std::uint64_t seed = 1;
};

struct LinkCounters {
  std::uint64_t forwarded[2] = {0, 0};
  std::uint64_t lost[2] = {0, 0};         // random loss
  std::uint64_t queue_drops[2] = {0, 0};  // drop-tail
  std::uint64_t cut[2] = {0, 0};          // dropped while the link was cut
};

class LinkEmulator {
 public:
  // Creates the TUN devices (down, no address: the caller configures them with `ip`).
  static Result<std::unique_ptr<LinkEmulator>> create(const LinkOptions& options, std::string& message);
  ~LinkEmulator();

  // Forwards until stop() is called from another thread or a signal handler.
  void run();
  void stop() { stopping_ = true; }
  // Cuts the link (every packet dropped, both ways, no RST: a cable pulled or a black hole) or
  // restores it. Safe from a signal handler.
  void set_cut(bool cut) { cut_ = cut; }
  const LinkCounters& counters() const { return counters_; }

 private:
  LinkEmulator(LinkOptions options, int fd_a, int fd_b) : options_(std::move(options)), fd_{fd_a, fd_b} {}
  LinkOptions options_;
  int fd_[2];
  std::atomic<bool> stopping_{false};
  std::atomic<bool> cut_{false};
  LinkCounters counters_;
};

}  // namespace culvert::lab
