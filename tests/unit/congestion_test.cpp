#include "core/congestion.h"
#include "core/congestion_watch.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/inet_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>
#include <vector>

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

// A connected loopback pair: `accepted` (the server's end) and `client`.
struct Pair {
  Fd listener{::socket(AF_INET, SOCK_STREAM, 0)};
  Fd client{-1};
  Fd accepted{-1};
  Pair() {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof address;
    if (::bind(listener.fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(listener.fd, 1) != 0 || ::getsockname(listener.fd, reinterpret_cast<sockaddr*>(&address), &size) != 0)
      return;
    client.fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (::connect(client.fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) return;
    accepted.fd = ::accept(listener.fd, nullptr, nullptr);
  }
  // Sends `bytes` from the server's end while the client reads them all.
  void transfer(std::size_t bytes) {
    std::thread reader([&] {
      std::vector<char> buffer(64 * 1024);
      for (std::size_t got = 0; got < bytes;) {
        auto n = ::read(client.fd, buffer.data(), buffer.size());
        if (n <= 0) return;
        got += static_cast<std::size_t>(n);
      }
    });
    std::vector<char> data(bytes, 'x');
    for (std::size_t sent = 0; sent < bytes;) {
      auto n = ::write(accepted.fd, data.data() + sent, bytes - sent);
      if (n <= 0) break;
      sent += static_cast<std::size_t>(n);
    }
    reader.join();
  }
};

tcp_info info_of(int fd) {
  tcp_info info{};
  socklen_t size = sizeof info;
  ::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &size);
  return info;
}

tcp_bbr_info bbr_of(int fd) {
  tcp_cc_info cc{};
  socklen_t size = sizeof cc;
  ::getsockopt(fd, IPPROTO_TCP, TCP_CC_INFO, &cc, &size);
  return cc.bbr;
}

// Waits (bounded) until the kernel would treat the connection as idle: nothing in flight, last
// data older than the RTO. Polls: the kernel raises no event for it.
bool wait_idle(int fd) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    auto info = info_of(fd);
    if (info.tcpi_unacked == 0 && static_cast<std::uint64_t>(info.tcpi_last_data_sent) * 1000 >= info.tcpi_rto)
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// A long-lived tunnel's BBR forgets its stale bandwidth model after an idle spell and starts up as
// a fresh connection would; while data is in flight or recent, nothing is touched.
TEST(CongestionControl, BbrRestartsItsStartUpAfterAnIdleSpellOnly) {
  Pair p;
  ASSERT_GE(p.accepted.fd, 0);
  if (apply_congestion_control(p.accepted.fd, "bbr") != "bbr") GTEST_SKIP() << "bbr not available here";
  p.transfer(4 * 1024 * 1024);
  // Just sent: not idle, left alone.
  EXPECT_FALSE(restart_congestion_after_idle(p.accepted.fd));
  auto before = bbr_of(p.accepted.fd);
  EXPECT_GT(before.bbr_bw_lo | before.bbr_bw_hi, 0u) << "BBR measured no bandwidth";
  ASSERT_TRUE(wait_idle(p.accepted.fd));
  EXPECT_TRUE(restart_congestion_after_idle(p.accepted.fd));
  EXPECT_EQ(congestion_control_of(p.accepted.fd), "bbr");
  auto after = bbr_of(p.accepted.fd);
  // bbr_init empties the bandwidth filter (and enters start-up, whose gains it sets on the next ACK).
  EXPECT_EQ(after.bbr_bw_lo | after.bbr_bw_hi, 0u) << "the bandwidth model survived";
  // The connection still carries data afterwards.
  p.transfer(64 * 1024);
  EXPECT_EQ(info_of(p.accepted.fd).tcpi_state, TCP_ESTABLISHED);
}

TEST(CongestionControl, OtherAlgorithmsAreNotRestarted) {
  Pair p;
  ASSERT_GE(p.accepted.fd, 0);
  ASSERT_EQ(apply_congestion_control(p.accepted.fd, "reno"), "reno");
  p.transfer(64 * 1024);
  ASSERT_TRUE(wait_idle(p.accepted.fd));
  EXPECT_FALSE(restart_congestion_after_idle(p.accepted.fd));
  EXPECT_EQ(congestion_control_of(p.accepted.fd), "reno");
  EXPECT_FALSE(restart_congestion_after_idle(-1));
}

// The watch a tunnel's session calls before each write: after an idle spell it restarts BBR (and
// counts it); on a busy connection that has just started up it leaves the algorithm alone.
TEST(CongestionWatch, RestartsAfterIdleAndLeavesAFreshTransferAlone) {
  Pair p;
  ASSERT_GE(p.accepted.fd, 0);
  if (apply_congestion_control(p.accepted.fd, "bbr") != "bbr") GTEST_SKIP() << "bbr not available here";
  CongestionWatch watch(p.accepted.fd);
  p.transfer(4 * 1024 * 1024);
  watch.on_write(false);
  watch.on_write(true);  // waited, but data was sent a moment ago: not idle
  EXPECT_EQ(watch.restarts(), 0u);
  ASSERT_TRUE(wait_idle(p.accepted.fd));
  watch.on_write(true);
  EXPECT_EQ(watch.restarts(), 1u);
  EXPECT_EQ(congestion_control_of(p.accepted.fd), "bbr");
  auto after = bbr_of(p.accepted.fd);
  EXPECT_EQ(after.bbr_bw_lo | after.bbr_bw_hi, 0u);
}

}  // namespace
}  // namespace culvert
