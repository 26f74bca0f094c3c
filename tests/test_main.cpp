// gtest main for Culvert's tests: like the culvert binary, ignore SIGPIPE (OpenSSL writes to
// sockets with write(2), and a closed peer must be an error value, not a dead test process).
#include <gtest/gtest.h>

#include <csignal>

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
