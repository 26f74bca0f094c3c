#include "core/congestion.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstring>

namespace culvert {

std::string congestion_control_of(int fd) {
  char name[32] = {};
  socklen_t size = sizeof name - 1;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, name, &size) != 0) return {};
  return std::string(name, ::strnlen(name, size));
}

std::string apply_congestion_control(int fd, const std::string& wanted) {
  if (!wanted.empty()) {
    // A refusal (ENOENT: not built in; EPERM: not allowed for this user) leaves the default in place.
    ::setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, wanted.data(), static_cast<socklen_t>(wanted.size()));
  }
  return congestion_control_of(fd);
}

bool restart_congestion_after_idle(int fd) {
  if (fd < 0) return false;
  tcp_info info{};
  socklen_t size = sizeof info;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &size) != 0) return false;
  // The kernel's own idle test (tcp_event_data_sent): nothing in flight, last data older than the RTO.
  bool idle = info.tcpi_unacked == 0 && static_cast<std::uint64_t>(info.tcpi_last_data_sent) * 1000 >= info.tcpi_rto;
  return idle && restart_congestion(fd);
}

bool restart_congestion(int fd) {
  if (fd < 0 || congestion_control_of(fd) != "bbr") return false;
  static constexpr char kReno[] = "reno", kBbr[] = "bbr";
  if (::setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, kReno, sizeof kReno - 1) != 0) return false;
  ::setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, kBbr, sizeof kBbr - 1);
  return congestion_control_of(fd) == "bbr";
}

void limit_unsent(int fd, int bytes) { ::setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &bytes, sizeof bytes); }

}  // namespace culvert
