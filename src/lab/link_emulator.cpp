#include "lab/link_emulator.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstring>
#include <deque>
#include <random>
#include <vector>

namespace culvert::lab {
namespace {

using Clock = std::chrono::steady_clock;

// Opens a TUN device inside the named network namespace; the calling thread returns to its own.
int open_tun_in(const std::string& ns, const std::string& device, std::string& message) {
  int self = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  int target = ::open(("/var/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
  if (self < 0 || target < 0) {
    message = "no network namespace \"" + ns + "\" (create it with ip netns add)";
    if (self >= 0) ::close(self);
    if (target >= 0) ::close(target);
    return -1;
  }
  int fd = -1;
  if (::setns(target, CLONE_NEWNET) == 0) {
    fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
    ifreq req{};
    req.ifr_flags = IFF_TUN | IFF_NO_PI;
    std::strncpy(req.ifr_name, device.c_str(), IFNAMSIZ - 1);
    if (fd >= 0 && ::ioctl(fd, TUNSETIFF, &req) != 0) {
      message = "cannot create TUN device " + device + " in " + ns + ": " + std::strerror(errno);
      ::close(fd);
      fd = -1;
    } else if (fd < 0) {
      message = std::string("cannot open /dev/net/tun: ") + std::strerror(errno);
    }
    ::setns(self, CLONE_NEWNET);
  } else {
    message = "cannot enter namespace " + ns + ": " + std::strerror(errno);
  }
  ::close(self);
  ::close(target);
  return fd;
}

struct Pending {
  Clock::time_point deliver;
  std::vector<std::uint8_t> packet;
};

}  // namespace

Result<std::unique_ptr<LinkEmulator>> LinkEmulator::create(const LinkOptions& options, std::string& message) {
  int a = open_tun_in(options.namespace_a, options.device, message);
  if (a < 0) return fail(Errc::bad_config);
  int b = open_tun_in(options.namespace_b, options.device, message);
  if (b < 0) {
    ::close(a);
    return fail(Errc::bad_config);
  }
  return std::unique_ptr<LinkEmulator>(new LinkEmulator(options, a, b));
}

LinkEmulator::~LinkEmulator() {
  ::close(fd_[0]);
  ::close(fd_[1]);
}

void LinkEmulator::run() {
  std::mt19937_64 random(options_.seed);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  const LinkDirection* dir[2] = {&options_.a_to_b, &options_.b_to_a};
  std::deque<Pending> queue[2];  // [0]: a -> b, [1]: b -> a
  Clock::time_point busy_until[2] = {Clock::now(), Clock::now()};
  std::vector<std::uint8_t> buffer(65536);
  while (!stopping_) {
    auto now = Clock::now();
    // Deliver what is due; queues are in delivery order (FIFO through one bottleneck).
    for (int d = 0; d < 2; ++d) {
      while (!queue[d].empty() && queue[d].front().deliver <= now) {
        auto& p = queue[d].front();
        if (::write(fd_[1 - d], p.packet.data(), p.packet.size()) > 0) ++counters_.forwarded[d];
        queue[d].pop_front();
      }
    }
    int timeout = 50;
    for (int d = 0; d < 2; ++d) {
      if (queue[d].empty()) continue;
      auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(queue[d].front().deliver - now).count();
      timeout = std::min<int>(timeout, static_cast<int>(std::max<long>(wait, 0)));
    }
    pollfd fds[2] = {{fd_[0], POLLIN, 0}, {fd_[1], POLLIN, 0}};
    if (::poll(fds, 2, timeout) <= 0) continue;
    now = Clock::now();
    for (int d = 0; d < 2; ++d) {
      if (!(fds[d].revents & POLLIN)) continue;
      for (int burst = 0; burst < 64; ++burst) {
        ssize_t n = ::read(fd_[d], buffer.data(), buffer.size());
        if (n <= 0) break;
        auto size = static_cast<std::size_t>(n);
        if (cut_) {
          ++counters_.cut[d];
          continue;
        }
        if (uniform(random) < dir[d]->loss) {
          ++counters_.lost[d];
          continue;
        }
        // Drop-tail: the bytes still waiting to be serialised at the bottleneck form the queue.
        if (options_.rate_mbit > 0) {
          auto backlog = std::chrono::duration_cast<std::chrono::microseconds>(busy_until[d] - now).count();
          auto backlog_bytes = static_cast<double>(std::max<long>(backlog, 0)) * options_.rate_mbit / 8;
          if (backlog_bytes + static_cast<double>(size) > static_cast<double>(options_.queue_bytes)) {
            ++counters_.queue_drops[d];
            continue;
          }
        }
        // Serialisation at the bottleneck, then propagation delay.
        auto start = std::max(now, busy_until[d]);
        if (options_.rate_mbit > 0) {
          busy_until[d] = start + std::chrono::microseconds(static_cast<long>(size * 8 / options_.rate_mbit));
        } else {
          busy_until[d] = start;
        }
        queue[d].push_back(
            {busy_until[d] + dir[d]->delay, std::vector<std::uint8_t>(buffer.begin(), buffer.begin() + n)});
      }
    }
  }
}

}  // namespace culvert::lab
