#include "core/congestion.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

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

void limit_unsent(int fd, int bytes) { ::setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &bytes, sizeof bytes); }

}  // namespace culvert
