// The client's subscriptions: a URL the operator gave the user that lists the user's current
// links (server/subscription.h). Each subscription fills one group of servers, and is read again
// every interval and when every server of its group failed; the group's servers are rebuilt from
// it without dropping working streams (unchanged links keep their tunnels). The last good copy is
// kept on disk (mode 0600: it holds the user's keys) and used at the next start before the first
// fetch, which goes through a working tunnel if there is one (the client's own proxy port), else
// directly.
// Thread model: the client's executor. Ownership: owned by the Client; borrows the Outbounds.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "client/outbounds.h"
#include "config/client_config.h"

namespace culvert {

// The servers a subscription's body lists: base64 (standard or url-safe) of lines, or the lines
// themselves; one share link per line, blank lines and lines starting with '#' skipped. Names
// come from the links' labels ("user@server" gives "server"), made unique. Links this client
// cannot read are skipped (`skipped` counts them); no readable link at all is Errc::bad_link.
Result<std::vector<ServerEntry>> parse_subscription(std::string_view body, std::size_t* skipped = nullptr);

// Where a subscription's last good copy is kept: DIR/subscription-<hash of the URL>.txt, DIR being
// $XDG_CACHE_HOME/culvert or ~/.cache/culvert; empty if neither can be found.
std::string subscription_cache_path(const std::string& url);

class SubscriptionUpdater {
 public:
  SubscriptionUpdater(asio::any_io_executor executor, GroupConfig group, Outbounds& outbounds);
  // Loads the cached copy, then fetches at once and every interval. `proxy`: the client's own
  // listener, tried first when the group has servers.
  void start(std::optional<asio::ip::tcp::endpoint> proxy);
  // Every server failed: fetch again soon (at most once a minute).
  void wake();
  void stop();

 private:
  asio::awaitable<void> loop();
  asio::awaitable<bool> refresh();
  bool apply(const std::string& body, const char* source);

  asio::any_io_executor executor_;
  GroupConfig group_;
  Outbounds& outbounds_;
  std::optional<asio::ip::tcp::endpoint> proxy_;
  asio::steady_timer timer_;
  std::string cache_path_;
  std::chrono::steady_clock::time_point last_fetch_{};
  bool have_servers_ = false;
  bool stopping_ = false;
};

}  // namespace culvert
