#include "core/congestion.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace culvert {
namespace {

struct Fd {
  int fd;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// The server sets the algorithm on its listener only; this is the kernel behaviour it relies on.
TEST(CongestionControl, AcceptedSocketsInheritTheListenersAlgorithm) {
  Fd listener(::socket(AF_INET, SOCK_STREAM, 0));
  ASSERT_GE(listener.fd, 0);
  const std::string before = congestion_control_of(listener.fd);
  ASSERT_FALSE(before.empty());
  // reno is always built in and allowed for every user; pick it unless it is already the default.
  const std::string wanted = before == "reno" ? "bbr" : "reno";
  const std::string in_effect = apply_congestion_control(listener.fd, wanted);
  if (in_effect != wanted) GTEST_SKIP() << wanted << " not available here (kept " << in_effect << ")";

  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener.fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(listener.fd, 1), 0);
  socklen_t size = sizeof address;
  ASSERT_EQ(::getsockname(listener.fd, reinterpret_cast<sockaddr*>(&address), &size), 0);
  Fd client(::socket(AF_INET, SOCK_STREAM, 0));
  ASSERT_EQ(::connect(client.fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  Fd accepted(::accept(listener.fd, nullptr, nullptr));
  ASSERT_GE(accepted.fd, 0);
  EXPECT_EQ(congestion_control_of(accepted.fd), wanted);
  EXPECT_EQ(congestion_control_of(client.fd), before);
}

TEST(CongestionControl, UnknownAlgorithmKeepsTheDefault) {
  Fd s(::socket(AF_INET, SOCK_STREAM, 0));
  const std::string before = congestion_control_of(s.fd);
  EXPECT_EQ(apply_congestion_control(s.fd, "no_such_algo"), before);
  EXPECT_EQ(apply_congestion_control(s.fd, ""), before);
}

TEST(CongestionControl, NonTcpSocketReadsAsEmpty) {
  Fd s(::socket(AF_INET, SOCK_DGRAM, 0));
  EXPECT_EQ(congestion_control_of(s.fd), "");
  EXPECT_EQ(congestion_control_of(-1), "");
}

}  // namespace
}  // namespace culvert
