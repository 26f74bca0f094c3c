#include "config/server_config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace culvert {
namespace {

class ServerConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("culvert-config-" + std::to_string(::getpid()) + "-" +
                                                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void write(const std::string& text) { std::ofstream(dir_ / "config.toml") << text; }
  std::filesystem::path dir_;
};

}  // namespace

TEST_F(ServerConfigTest, RenderedDefaultsLoadBack) {
  ServerConfig c;
  c.public_host = "198.51.100.2";
  c.cover.mode = CoverConfig::Mode::upstream;
  c.cover.upstream = "127.0.0.1:8080";
  write(render_server_config(c));
  std::string message;
  auto loaded = load_server_config(dir_.string(), message);
  ASSERT_TRUE(loaded) << message;
  EXPECT_EQ(loaded->public_host, "198.51.100.2");
  EXPECT_EQ(loaded->cover.mode, CoverConfig::Mode::upstream);
  EXPECT_TRUE(loaded->cover.alpn.empty());
  EXPECT_EQ(loaded->cover.effective_alpn(), std::vector<std::string>{"http/1.1"});
  EXPECT_EQ(loaded->path("users.db"), dir_.string() + "/users.db");
}

TEST_F(ServerConfigTest, ReportsSyntaxErrorsWithALine) {
  write("listen = \"0.0.0.0:443\"\npublic_host = \n");
  std::string message;
  EXPECT_FALSE(load_server_config(dir_.string(), message));
  EXPECT_NE(message.find("line 2"), std::string::npos) << message;
}

TEST_F(ServerConfigTest, RejectsInvalidValues) {
  for (const char* text :
       {"public_host = \"a\"\nlisten = \"nope\"\n", "listen = \"0.0.0.0:443\"\n",
        "public_host = \"a\"\ntransport = \"carrier-pigeon\"\n", "public_host = \"a\"\n[cover]\nmode = \"mirror\"\n",
        "public_host = \"a\"\n[cover]\nmode = \"upstream\"\n", "public_host = \"a\"\nhandshake_timeout_ms = -5\n",
        "public_host = \"a\"\nlog_level = \"loud\"\n"}) {
    write(text);
    std::string message;
    EXPECT_FALSE(load_server_config(dir_.string(), message)) << text;
    EXPECT_FALSE(message.empty()) << text;
  }
}

TEST_F(ServerConfigTest, UnknownKeysAndWrongTypesNameTheKey) {
  struct Case {
    std::string text, says;
  };
  const Case cases[] = {
      {"public_host = \"a\"\nmax_tunels = 5\n",
       "config.toml:2: unknown key \"max_tunels\" (did you mean \"max_tunnels\"?)"},
      {"public_host = \"a\"\n[cover]\nupstrem = \"x\"\n",
       "unknown key \"upstrem\" in [cover] (did you mean \"upstream\"?)"},
      {"public_host = \"a\"\n[acmee]\n", "did you mean \"acme\""},
      {"public_host = \"a\"\nhandshake_timeout_ms = -5\n", "handshake_timeout_ms must be"},
      {"public_host = \"a\"\nconnect_timeout_ms = \"10s\"\n", "connect_timeout_ms must be"},
      {"public_host = 7\n", "public_host must be a string"},
      {"public_host = \"a\"\nallow_private = \"yes\"\n", "allow_private must be true or false"},
  };
  for (const auto& c : cases) {
    write(c.text);
    std::string message;
    EXPECT_FALSE(load_server_config(dir_.string(), message)) << c.text;
    EXPECT_NE(message.find(c.says), std::string::npos) << message;
  }
}

TEST_F(ServerConfigTest, BorrowNeedsATargetAndTheBorrowedName) {
  ServerConfig c;
  c.public_host = "198.51.100.2";
  c.transport = "borrow";
  c.target = "www.example.com:443";
  c.sni = "www.example.com";
  write(render_server_config(c));
  std::string message;
  auto loaded = load_server_config(dir_.string(), message);
  ASSERT_TRUE(loaded) << message;
  EXPECT_EQ(loaded->transport, "borrow");
  EXPECT_EQ(loaded->target, "www.example.com:443");
  for (const char* text : {"public_host = \"a\"\ntransport = \"borrow\"\nsni = \"x.org\"\n",
                           "public_host = \"a\"\ntransport = \"borrow\"\ntarget = \"x.org:443\"\n"}) {
    write(text);
    EXPECT_FALSE(load_server_config(dir_.string(), message)) << text;
    EXPECT_NE(message.find("borrow"), std::string::npos);
  }
}

TEST_F(ServerConfigTest, CongestionControlDefaultsToBbrAndRejectsOddNames) {
  ServerConfig c;
  c.public_host = "198.51.100.2";
  write(render_server_config(c));
  std::string message;
  auto loaded = load_server_config(dir_.string(), message);
  ASSERT_TRUE(loaded) << message;
  EXPECT_EQ(loaded->congestion_control, "bbr");
  write("public_host = \"a\"\ncongestion_control = \"\"\n");
  loaded = load_server_config(dir_.string(), message);
  ASSERT_TRUE(loaded) << message;
  EXPECT_EQ(loaded->congestion_control, "");
  for (const char* name : {"bbr; rm", "BBR", "averyveryverylongname"}) {
    write(std::string("public_host = \"a\"\ncongestion_control = \"") + name + "\"\n");
    EXPECT_FALSE(load_server_config(dir_.string(), message)) << name;
    EXPECT_NE(message.find("congestion_control"), std::string::npos);
  }
}

TEST_F(ServerConfigTest, MissingFileIsAnError) {
  std::string message;
  EXPECT_FALSE(load_server_config((dir_ / "nowhere").string(), message));
  EXPECT_FALSE(message.empty());
}

}  // namespace culvert
