#include "config/client_config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace culvert {
namespace {

std::string link_text() {
  ShareLink link;
  link.host = "203.0.113.5";
  link.port = 443;
  link.sni = "example.org";
  link.credential.key_id.fill(1);
  link.credential.secret.fill(2);
  PublicKey pin{};
  pin.fill(3);
  link.transport = TlsLink{pin};
  return format_share_link(link);
}

std::string two_servers() {
  return "[[server]]\nname = \"tokyo\"\nlink = \"" + link_text() + "\"\n[[server]]\nname = \"osaka\"\nlink = \"" +
         link_text() + "\"\n";
}

TEST(ClientConfig, ReadsServersGroupsDnsAndRules) {
  auto dir = std::filesystem::temp_directory_path() / "culvert-client-config-test";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "ads.txt") << "DOMAIN-SUFFIX,ads.example\nIP-CIDR,203.0.113.0/24\n";
  std::string text = "listen = \"127.0.0.1:7890\"\n" + two_servers() + R"(
[[group]]
name = "auto"
type = "url-test"
servers = ["tokyo", "osaka"]
url = "http://example.net/generate_204"
interval_ms = 2000
[dns]
listen = "127.0.0.1:5353"
fake_ip = true
[routing]
profile = "global"
final = "auto"
[[rule]]
rule_set = "ads.txt"
action = "block"
[[rule]]
domain_suffix = [".corp.example"]
port = [443, "8000-8080"]
network = "tcp"
action = "direct"
[[rule]]
domain = "one.example"
action = "osaka"
)";
  std::string message;
  auto c = parse_client_config(text, dir.string(), message);
  ASSERT_TRUE(c) << message;
  EXPECT_EQ(c->listen, "127.0.0.1:7890");
  ASSERT_EQ(c->servers.size(), 2u);
  ASSERT_EQ(c->groups.size(), 1u);
  EXPECT_EQ(c->groups[0].kind, GroupConfig::Kind::url_test);
  EXPECT_EQ(c->groups[0].interval, std::chrono::milliseconds(2000));
  EXPECT_EQ(c->groups[0].selected, "tokyo");
  EXPECT_TRUE(c->dns.fake_ip);
  EXPECT_EQ(c->profile, "global");
  EXPECT_EQ(c->final_outbound, "auto");
  ASSERT_EQ(c->rules.size(), 3u);
  EXPECT_EQ(c->rules[0].suffixes, std::vector<std::string>{"ads.example"});
  EXPECT_EQ(c->rules[0].cidrs.size(), 1u);
  EXPECT_EQ(c->rules[1].suffixes, std::vector<std::string>{"corp.example"});
  ASSERT_EQ(c->rules[1].ports.size(), 2u);
  EXPECT_EQ(c->rules[1].ports[1].first, 8000);
  EXPECT_EQ(c->rules[1].ports[1].last, 8080);
  EXPECT_EQ(c->rules[2].action.outbound, "osaka");
  std::filesystem::remove_all(dir);
}

TEST(ClientConfig, FinalDefaultsToTheFirstGroupThenTheFirstServer) {
  std::string message;
  auto c = parse_client_config(two_servers(), ".", message);
  ASSERT_TRUE(c) << message;
  EXPECT_EQ(c->final_outbound, "tokyo");
  EXPECT_EQ(c->profile, "bypass-cn");
}

TEST(ClientConfig, RefusesWhatWouldFailLater) {
  struct Case {
    std::string text;
    std::string says;
  };
  std::vector<Case> cases = {
      {"", "at least one [[server]]"},
      {"[[server]]\nname = \"a\"\nlink = \"culvert://broken\"\n", "server \"a\": link: the link is cut short"},
      {two_servers() + "finale = \"home\"\n", "unknown key \"finale\""},
      {two_servers() + "[routing]\nfinale = \"tokyo\"\n", "did you mean \"final\""},
      {two_servers() + "[[rule]]\ndomian = \"x\"\naction = \"direct\"\n", "did you mean \"domain\""},
      {two_servers() + "[[server]]\nname = \"tokyo\"\nlink = \"" + link_text() + "\"\n", "unique name"},
      {two_servers() + "[[group]]\nname = \"g\"\nservers = [\"nowhere\"]\n", "names no server"},
      {two_servers() + "[[group]]\nname = \"g\"\ntype = \"random\"\nservers = [\"tokyo\"]\n", "type must be"},
      {two_servers() + "[[group]]\nname = \"g\"\nservers = [\"tokyo\"]\nurl = \"https://x/\"\n", "http://"},
      {two_servers() + "[[rule]]\ndomain = \"x\"\naction = \"mars\"\n", "names no server or group"},
      {two_servers() + "[[rule]]\nip_cidr = \"300.1.1.1/8\"\naction = \"direct\"\n", "bad ip_cidr"},
      {two_servers() + "[[rule]]\nport = \"90-80\"\naction = \"direct\"\n", "port must be"},
      {two_servers() + "[[rule]]\nrule_set = \"/nonexistent/list.txt\"\naction = \"direct\"\n", "cannot read"},
      {two_servers() + "[[rule]]\ndomain = \"x\"\n", "action must be"},
      {two_servers() + "[routing]\nprofile = \"everything\"\n", "profile must be"},
      {two_servers() + "[dns]\nfake_ip_range = \"198.18.0.0/31\"\n", "fake_ip_range"},
      {"listen = \"nowhere\"\n" + two_servers(), "listen must be"},
      {"[[server]\n", "line"},
  };
  for (const auto& c : cases) {
    std::string message;
    EXPECT_FALSE(parse_client_config(c.text, ".", message)) << c.text;
    EXPECT_NE(message.find(c.says), std::string::npos) << "message: " << message << "\nfor: " << c.text;
  }
}

}  // namespace
}  // namespace culvert
