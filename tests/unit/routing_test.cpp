#include <gtest/gtest.h>

#include "routing/pac.h"
#include "routing/profiles.h"
#include "routing/router.h"
#include "routing/rule_list.h"

namespace culvert::routing {
namespace {

Rule rule_to(Action action) {
  Rule r;
  r.action = std::move(action);
  return r;
}

std::shared_ptr<const Router> build(std::vector<Rule> rules, Action final_action = Action::proxy("proxy")) {
  std::string message;
  auto router = Router::build(std::move(rules), std::move(final_action), nullptr, message);
  EXPECT_TRUE(router) << message;
  return *router;
}

Query name(std::string_view domain, std::uint16_t port = 443, Network network = Network::tcp,
           std::string_view inbound = "socks") {
  Query q;
  q.domain = domain;
  q.port = port;
  q.network = network;
  q.inbound = inbound;
  return q;
}

Query ip(const char* text, std::uint16_t port = 443) {
  Query q;
  q.address = asio::ip::make_address(text);
  q.port = port;
  return q;
}

TEST(Router, SuffixMatchesTheNameAndItsSubdomainsOnly) {
  auto r = rule_to(Action::direct());
  r.suffixes = {"example.com"};
  auto router = build({r});
  EXPECT_EQ(router->route(name("example.com")).kind, Action::Kind::direct);
  EXPECT_EQ(router->route(name("a.b.example.com")).kind, Action::Kind::direct);
  EXPECT_EQ(router->route(name("badexample.com")).outbound, "proxy");
  EXPECT_EQ(router->route(name("example.com.evil")).outbound, "proxy");
}

TEST(Router, FirstMatchingRuleWinsAcrossKinds) {
  auto block = rule_to(Action::block());
  block.keywords = {"tracker"};
  auto direct = rule_to(Action::direct());
  direct.suffixes = {"cn"};
  auto exact = rule_to(Action::proxy("b"));
  exact.domains = {"tracker.site.cn"};
  auto router = build({block, direct, exact});
  // The keyword rule comes first, so it decides even though the suffix and exact rules match too.
  EXPECT_EQ(router->route(name("tracker.site.cn")).kind, Action::Kind::block);
  EXPECT_EQ(router->route(name("www.site.cn")).kind, Action::Kind::direct);
  auto reordered = build({exact, block, direct});
  EXPECT_EQ(reordered->route(name("tracker.site.cn")).outbound, "b");
}

TEST(Router, RegexKeywordAndExact) {
  auto r1 = rule_to(Action::block());
  r1.regexes = {"^ads?[0-9]*\\."};
  auto r2 = rule_to(Action::direct());
  r2.domains = {"only.this.org"};
  auto router = build({r1, r2});
  EXPECT_EQ(router->route(name("ad12.example.com")).kind, Action::Kind::block);
  EXPECT_EQ(router->route(name("bad.example.com")).outbound, "proxy");
  EXPECT_EQ(router->route(name("only.this.org")).kind, Action::Kind::direct);
  EXPECT_EQ(router->route(name("x.only.this.org")).outbound, "proxy");
}

TEST(Router, CidrsMatchAddressesNotNames) {
  auto r = rule_to(Action::direct());
  r.cidrs = {*parse_cidr("10.0.0.0/8"), *parse_cidr("2001:db8::/32"), *parse_cidr("192.0.2.7")};
  auto router = build({r});
  EXPECT_EQ(router->route(ip("10.200.1.1")).kind, Action::Kind::direct);
  EXPECT_EQ(router->route(ip("11.0.0.1")).outbound, "proxy");
  EXPECT_EQ(router->route(ip("2001:db8:1::5")).kind, Action::Kind::direct);
  EXPECT_EQ(router->route(ip("2001:db9::5")).outbound, "proxy");
  EXPECT_EQ(router->route(ip("192.0.2.7")).kind, Action::Kind::direct);
  EXPECT_EQ(router->route(ip("192.0.2.8")).outbound, "proxy");
  EXPECT_EQ(router->route(ip("::ffff:10.1.2.3")).kind, Action::Kind::direct);  // v4-mapped
  EXPECT_EQ(router->route(name("10.example")).outbound, "proxy");
}

TEST(Router, PortNetworkAndInboundConditionsAllHold) {
  auto r = rule_to(Action::block());
  r.suffixes = {"game.net"};
  r.ports = {{3000, 3100}, {443, 443}};
  r.network = Network::udp;
  r.inbounds = {"socks"};
  auto router = build({r});
  EXPECT_EQ(router->route(name("eu.game.net", 3050, Network::udp)).kind, Action::Kind::block);
  EXPECT_EQ(router->route(name("eu.game.net", 443, Network::udp)).kind, Action::Kind::block);
  EXPECT_EQ(router->route(name("eu.game.net", 3050, Network::tcp)).outbound, "proxy");
  EXPECT_EQ(router->route(name("eu.game.net", 80, Network::udp)).outbound, "proxy");
  EXPECT_EQ(router->route(name("eu.game.net", 3050, Network::udp, "http")).outbound, "proxy");
}

TEST(Router, RuleWithoutDestinationMatchesEverythingOnItsPorts) {
  auto r = rule_to(Action::direct());
  r.ports = {{22, 22}};
  auto router = build({r}, Action::block());
  EXPECT_EQ(router->route(name("any.host", 22)).kind, Action::Kind::direct);
  EXPECT_EQ(router->route(ip("8.8.8.8", 22)).kind, Action::Kind::direct);
  EXPECT_EQ(router->route(name("any.host", 23)).kind, Action::Kind::block);
}

TEST(Router, GeoIpRulesNeedADatabase) {
  auto r = rule_to(Action::direct());
  r.countries = {*parse_country("cn")};
  std::string message;
  EXPECT_FALSE(Router::build({r}, Action::direct(), nullptr, message));
  EXPECT_NE(message.find("GeoIP"), std::string::npos);
}

TEST(Router, BadRegexIsAConfigurationError) {
  auto r = rule_to(Action::direct());
  r.regexes = {"(unclosed"};
  std::string message;
  EXPECT_FALSE(Router::build({r}, Action::direct(), nullptr, message));
  EXPECT_NE(message.find("regex"), std::string::npos);
}

TEST(RuleList, ReadsPlainPrefixedClassicalAndYamlLines) {
  Rule r;
  RuleListStats stats;
  auto text = R"(# comment
example.com
.dot-suffix.org
+.plus-suffix.net
full:exact.example
domain:v2fly.example @cn
keyword:shop
regexp:^cdn[0-9]+\.
1.2.3.0/24
2001:db8::/48
DOMAIN,exact2.example
DOMAIN-SUFFIX,classic.example
DOMAIN-KEYWORD,video
IP-CIDR,5.6.0.0/16,no-resolve
IP-CIDR6,2001:db9::/32
GEOIP,CN
PROCESS-NAME,curl
payload:
  - 'DOMAIN-SUFFIX,yaml.example'
  - "+.yaml2.example"
server=/dnsmasq.example/114.114.114.114
include:other-list
)";
  ASSERT_TRUE(parse_rule_list(text, r, stats));
  EXPECT_EQ(r.suffixes,
            (std::vector<std::string>{"example.com", "dot-suffix.org", "plus-suffix.net", "v2fly.example",
                                      "classic.example", "yaml.example", "yaml2.example", "dnsmasq.example"}));
  EXPECT_EQ(r.domains, (std::vector<std::string>{"exact.example", "exact2.example"}));
  EXPECT_EQ(r.keywords, (std::vector<std::string>{"shop", "video"}));
  EXPECT_EQ(r.regexes.size(), 1u);
  EXPECT_EQ(r.cidrs.size(), 4u);
  EXPECT_EQ(r.countries.size(), 1u);
  EXPECT_EQ(stats.skipped, 3u);  // PROCESS-NAME, the YAML header and include:
}

TEST(RuleList, NamesTheFirstMalformedLine) {
  Rule r;
  RuleListStats stats;
  EXPECT_FALSE(parse_rule_list("good.example\nIP-CIDR,1.2.3.0/99\n", r, stats));
  EXPECT_EQ(stats.first_bad_line, 2u);
  Rule r2;
  RuleListStats stats2;
  EXPECT_FALSE(parse_rule_list("ok.example\nbad name with spaces\n", r2, stats2));
  EXPECT_EQ(stats2.first_bad_line, 2u);
}

TEST(RuleList, CidrClearsHostBitsAndRefusesBadPrefixes) {
  auto c = parse_cidr("10.1.2.3/8");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->network.to_string(), "10.0.0.0");
  EXPECT_FALSE(parse_cidr("10.0.0.0/33"));
  EXPECT_FALSE(parse_cidr("10.0.0.0/"));
  EXPECT_FALSE(parse_cidr("not-an-ip/8"));
  EXPECT_FALSE(parse_cidr("::/129"));
}

TEST(Profiles, BypassCnSendsDomesticAndLocalDirectAndTheRestThroughTheTunnel) {
  auto rules = profile_rules("bypass-cn", false);
  ASSERT_TRUE(rules);
  auto router = build(*rules);
  for (auto domestic : {"www.baidu.com", "weixin.qq.com", "gov.cn", "www.12306.cn", "v.douyin.com", "localhost"})
    EXPECT_EQ(router->route(name(domestic)).kind, Action::Kind::direct) << domestic;
  for (auto foreign : {"www.google.com", "twitter.com", "en.wikipedia.org", "baidu.com.evil.org"})
    EXPECT_EQ(router->route(name(foreign)).outbound, "proxy") << foreign;
  EXPECT_EQ(router->route(ip("192.168.1.1")).kind, Action::Kind::direct);
  EXPECT_EQ(router->route(ip("8.8.8.8")).outbound, "proxy");
  EXPECT_FALSE(profile_rules("nonsense", false));
}

TEST(Pac, ListsDirectRulesAndLeavesTheRestToTheProxy) {
  auto direct = rule_to(Action::direct());
  direct.suffixes = {"cn"};
  direct.cidrs = {*parse_cidr("10.0.0.0/8")};
  auto ported = rule_to(Action::direct());
  ported.suffixes = {"only-on-22.example"};
  ported.ports = {{22, 22}};
  auto pac = generate_pac({direct, ported}, Action::proxy("p"), "127.0.0.1:1080");
  EXPECT_NE(pac.find("function FindProxyForURL"), std::string::npos);
  EXPECT_NE(pac.find("\"cn\":0"), std::string::npos);
  EXPECT_NE(pac.find("\"255.0.0.0\""), std::string::npos);
  EXPECT_NE(pac.find("SOCKS5 127.0.0.1:1080"), std::string::npos);
  // A rule with a port condition is never DIRECT in the PAC (a PAC cannot see it reliably).
  EXPECT_NE(pac.find("var direct = [1,0,]"), std::string::npos);
}

}  // namespace
}  // namespace culvert::routing
