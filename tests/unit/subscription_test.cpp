#include "server/subscription.h"

#include <gtest/gtest.h>

#include "client/subscription.h"
#include "store/memory_user_store.h"

namespace culvert {
namespace {

std::string link_text(const std::string& host, const std::string& label) {
  ShareLink l;
  l.host = host;
  l.port = 443;
  l.sni = "site.example";
  PublicKey key{};
  key.fill(7);
  l.transport = CdnLink{key, "/abc", "packet"};
  l.label = label;
  return format_share_link(l);
}

TEST(ClientSubscription, ReadsBase64AndPlainListsAndSkipsOtherKinds) {
  std::string plain = "# two servers\n" + link_text("a.example", "alice@tokyo") + "\r\n\nvmess://abc\n" +
                      link_text("b.example", "alice@osaka") + "\n" + link_text("c.example", "alice@tokyo") + "\n";
  std::size_t skipped = 0;
  auto servers = parse_subscription(plain, &skipped);
  ASSERT_TRUE(servers);
  ASSERT_EQ(servers->size(), 3u);
  EXPECT_EQ(skipped, 1u);
  EXPECT_EQ((*servers)[0].name, "tokyo");
  EXPECT_EQ((*servers)[1].name, "osaka");
  EXPECT_EQ((*servers)[2].name, "tokyo-2");  // names stay unique
  EXPECT_EQ((*servers)[1].link.host, "b.example");
  // The same as base64 (standard, with padding and line breaks) and as base64url.
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string b64;
  for (std::size_t i = 0; i < plain.size(); i += 3) {
    unsigned v = static_cast<unsigned char>(plain[i]) << 16;
    if (i + 1 < plain.size()) v |= static_cast<unsigned char>(plain[i + 1]) << 8;
    if (i + 2 < plain.size()) v |= static_cast<unsigned char>(plain[i + 2]);
    b64 += kAlphabet[v >> 18 & 63];
    b64 += kAlphabet[v >> 12 & 63];
    b64 += i + 1 < plain.size() ? kAlphabet[v >> 6 & 63] : '=';
    b64 += i + 2 < plain.size() ? kAlphabet[v & 63] : '=';
    if (b64.size() % 76 == 0) b64 += "\n";
  }
  auto decoded = parse_subscription(b64);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->size(), 3u);
  // Nothing usable: an error, not an empty server list.
  EXPECT_FALSE(parse_subscription("vmess://x\nss://y\n"));
  EXPECT_FALSE(parse_subscription(""));
  EXPECT_FALSE(parse_subscription("!!!not base64!!!"));
}

TEST(ServerSubscription, TokensAreStablePerUserAndSecret) {
  std::array<std::uint8_t, 32> secret{};
  secret.fill(1);
  auto a = subscription_token(secret, "alice");
  EXPECT_EQ(a.size(), 24u);
  EXPECT_EQ(a, subscription_token(secret, "alice"));
  EXPECT_NE(a, subscription_token(secret, "bob"));
  secret[0] = 2;
  EXPECT_NE(a, subscription_token(secret, "alice"));
}

TEST(ServerSubscription, ListsTheFleetWithTheUsersOwnKeyAndMeetsTheCoverOtherwise) {
  MemoryUserStore store;
  auto alice = store.add("alice").value();
  auto bob = store.add("bob").value();
  ASSERT_TRUE(store.fleet_put({"tokyo", link_text("t.example", "x")}));
  ASSERT_TRUE(store.fleet_put({"osaka", link_text("o.example", "x")}));
  ASSERT_TRUE(store.update("alice", UserChanges{1000000, 1900000000, std::nullopt, std::nullopt}));
  ServerConfig config;
  SubscriptionService service(config, store);
  auto claim = service.claim();
  auto secret = store.shared_secret(std::string(kSubscriptionPurpose)).value();
  std::string path = "/s/" + subscription_token(secret, "alice");
  ASSERT_TRUE(claim.wants(path));
  EXPECT_FALSE(claim.wants("/index.html"));
  auto answer = claim.answer(cover::ClaimedRequest{"GET", path + "/plain", 1001, std::nullopt, false});
  ASSERT_TRUE(answer);
  auto servers = parse_subscription(answer->body);
  ASSERT_TRUE(servers);
  ASSERT_EQ(servers->size(), 2u);
  EXPECT_EQ((*servers)[0].name, "osaka");
  EXPECT_EQ((*servers)[0].link.credential.secret, alice.credential.secret);
  bool userinfo = false;
  for (const auto& [name, value] : answer->headers)
    if (name == "Subscription-Userinfo") {
      userinfo = true;
      EXPECT_EQ(value, "upload=0; download=0; total=1000000; expire=1900000000");
    }
  EXPECT_TRUE(userinfo);
  // The base64 form lists the same.
  auto b64 = claim.answer(cover::ClaimedRequest{"GET", path, 2000, std::nullopt, false});
  ASSERT_TRUE(b64);
  EXPECT_EQ(parse_subscription(b64->body)->size(), 2u);
  // Another token, a guess, a POST, or a revoked user: the cover answers.
  EXPECT_FALSE(claim.answer(cover::ClaimedRequest{"GET", "/s/" + std::string(24, 'A'), 1001, std::nullopt, false}));
  EXPECT_FALSE(claim.answer(cover::ClaimedRequest{"POST", path, 1001, std::nullopt, false}));
  ASSERT_TRUE(store.revoke("alice"));
  EXPECT_FALSE(claim.answer(cover::ClaimedRequest{"GET", path, 1001, std::nullopt, false}));
  auto bobs =
      claim.answer(cover::ClaimedRequest{"GET", "/s/" + subscription_token(secret, "bob"), 1001, std::nullopt, false});
  ASSERT_TRUE(bobs);
  EXPECT_EQ(parse_subscription(bobs->body)->front().link.credential.key_id, bob.credential.key_id);
  // Subscriptions off: nothing is claimed.
  config.subscription_path.clear();
  EXPECT_FALSE(service.claim().wants);
}

}  // namespace
}  // namespace culvert
