#include "core/congestion_watch.h"

#include <linux/inet_diag.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>
#include <optional>

#include "core/congestion.h"

namespace culvert {
namespace {

// BBR's state as the kernel reports it; nullopt when the socket does not run BBR.
std::optional<CongestionSample> sample_of(int fd, std::chrono::steady_clock::time_point now) {
  tcp_cc_info cc{};
  socklen_t size = sizeof cc;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_CC_INFO, &cc, &size) != 0 || size < sizeof cc.bbr) return std::nullopt;
  if (congestion_control_of(fd) != "bbr") return std::nullopt;
  tcp_info info{};
  size = sizeof info;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &size) != 0) return std::nullopt;
  CongestionSample sample;
  sample.now = now;
  sample.bandwidth = (static_cast<std::uint64_t>(cc.bbr.bbr_bw_hi) << 32) | cc.bbr.bbr_bw_lo;
  // Gains in 1/256: start-up 2.89 (739), drain 0.35 (88); 0 until the first ACK after bbr_init.
  // Probing runs at 0.75, 1 and 1.25.
  std::uint32_t gain = cc.bbr.bbr_pacing_gain;
  sample.in_startup = gain == 0 || gain < 128 || gain > 512;
  bool has_notsent = size >= offsetof(tcp_info, tcpi_notsent_bytes) + sizeof info.tcpi_notsent_bytes;
  sample.backlogged = has_notsent && info.tcpi_notsent_bytes > 0;
  return sample;
}

}  // namespace

void CongestionWatch::on_write(bool waited) {
  if (fd_ < 0) return;
  if (waited) {
    if (restart_congestion_after_idle(fd_)) {
      retry_.restarted_elsewhere();
      ++restarts_;
      return;
    }
  }
  auto now = std::chrono::steady_clock::now();
  if (now < next_sample_) return;
  next_sample_ = now + kSampleEvery;
  auto sample = sample_of(fd_, now);
  if (!sample || !retry_.observe(*sample)) return;
  if (restart_congestion(fd_)) ++restarts_;
}

}  // namespace culvert
