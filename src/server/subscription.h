// Share links and subscriptions. A subscription is one secret URL per user that lists all of the
// user's current links: one per server of the fleet (UserStore::fleet, shared by every server of
// a PostgreSQL store), or this server's own when there is no fleet. Clients re-read it, so an
// operator moves users to a new server or address by changing the fleet.
//
//   GET SUBSCRIPTION_PATH/TOKEN         the links, base64 of "LINK\n..." (the common form)
//   GET SUBSCRIPTION_PATH/TOKEN/plain   the same links as plain lines (Culvert's form)
//
// TOKEN = base64url(first 18 bytes of HMAC-SHA256(store secret "subscription", "culvert
// subscription v1" || 0 || user name)): 24 characters, the same on every server of the store.
// Answers carry `subscription-userinfo: upload=U; download=D; total=T; expire=E` and
// `profile-update-interval: 12` (hours), as clients in this field read them. Anything else under
// the path, and the token of a revoked or expired user, is the cover's 404.
// Thread model: the server's executor. Ownership: the service borrows the configuration and the
// store (the Server's), which outlive it.
#pragma once

#include <array>
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "config/server_config.h"
#include "cover/exchange.h"
#include "store/user_store.h"

namespace culvert {

// This server's link for `user` (the certificate's pin or the static key read from the data
// directory), formatted.
Result<std::string> share_link(const ServerConfig& config, const User& user);

inline constexpr std::string_view kSubscriptionPurpose = "subscription";

std::string subscription_token(const std::array<std::uint8_t, 32>& secret, const std::string& name);
// https://NAME[:PORT]/PATH/TOKEN, with #pin=SPKI when clients must pin this server's certificate.
// A borrow server has no site of its own to serve it from: Errc::unsupported, `why` says so.
Result<std::string> subscription_url(const ServerConfig& config, UserStore& store, const User& user, std::string& why);
// The links of `user`'s subscription, labelled "USER@SERVER".
Result<std::vector<std::string>> subscription_links(const ServerConfig& config, UserStore& store, const User& user);
std::string subscription_userinfo(const User& user, std::int64_t now);

class SubscriptionService {
 public:
  SubscriptionService(const ServerConfig& config, UserStore& store) : config_(config), store_(store) {}
  // The cover's claim for SUBSCRIPTION_PATH/...; nothing is claimed when subscriptions are off.
  cover::Claim claim();

 private:
  std::optional<cover::Response> answer(const cover::ClaimedRequest& request);
  // The user a token belongs to (tokens of all users, recomputed at most every 10 s).
  std::optional<User> user_for(std::string_view token);

  const ServerConfig& config_;
  UserStore& store_;
  std::map<std::string, std::string> tokens_;  // token -> user name
  std::chrono::steady_clock::time_point tokens_at_{};
};

}  // namespace culvert
