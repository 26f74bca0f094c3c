#include "app/user_commands.h"

#include <iostream>

#include "admin/qr.h"
#include "admin/users.h"
#include "app/commands.h"
#include "config/server_config.h"
#include "server/subscription.h"

namespace culvert::app {
namespace {

struct UserArgs {
  std::string dir;
  std::string name;
  std::string value;  // quota, expiry, tunnels or notes, per command
  std::string quota, expires, tunnels, notes;
  std::string grace = "7d";
  bool qr = false;
  bool json = false;
};

// Loads the configuration and opens its store, or prints why not.
struct Context {
  ServerConfig config;
  std::unique_ptr<UserStore> store;
  bool ok = false;

  explicit Context(const std::string& dir) {
    if (!load_config(dir, config)) return;
    store = open_store(config);
    ok = store != nullptr;
  }
};

int no_user(const std::string& name) {
  std::cerr << "culvert: no user \"" << name << "\"\n";
  return 1;
}

int print_user(const Context& c, const User& u, bool json, bool with_link, bool qr) {
  auto now = unix_now();
  std::optional<std::string> link;
  if (with_link) {
    auto made = admin::share_link(c.config, u);
    if (!made) {
      std::cerr << "culvert: cannot read the server's certificate or key to make the link\n";
      return 1;
    }
    link = *made;
  }
  if (json) {
    std::cout << admin::user_json(u, now, link) << "\n";
    return 0;
  }
  auto status = u.status(now);
  if (!with_link || !qr) {
    std::cout << "name:        " << u.name << "\n"
              << "status:      " << (status.empty() ? "active" : status) << "\n"
              << "created:     " << admin::format_time(u.created_at) << "\n"
              << "expires:     " << admin::format_time(u.expires_at) << "\n"
              << "quota:       " << (u.quota_bytes ? admin::format_bytes(u.quota_bytes) + " per month" : "none") << "\n"
              << "used:        " << admin::format_bytes(u.used_in_period(now)) << " this month\n"
              << "tunnels:     " << (u.max_tunnels ? std::to_string(u.max_tunnels) : "server default") << "\n";
    if (u.previous && u.previous_until > now)
      std::cout << "old key:     valid until " << admin::format_time(u.previous_until) << "\n";
    if (!u.notes.empty()) std::cout << "notes:       " << u.notes << "\n";
  }
  if (link) {
    if (qr) std::cout << render_qr(*link);
    std::cout << *link << std::endl;  // the last line, for scripts
  }
  return 0;
}

int apply(const UserArgs& a, const UserChanges& changes) {
  Context c(a.dir);
  if (!c.ok) return 1;
  auto user = c.store->update(a.name, changes);
  if (!user) return no_user(a.name);
  return print_user(c, *user, a.json, false, false);
}

}  // namespace

std::function<int()> add_user_commands(CLI::App& app) {
  auto args = std::make_shared<UserArgs>();
  auto* user = app.add_subcommand("user", "Manage users (SQLite or PostgreSQL, as the server's config says)");
  user->require_subcommand(1);
  auto common = [&](CLI::App* cmd, bool named) {
    if (named) cmd->add_option("name", args->name, "User name")->required();
    cmd->add_option("--dir", args->dir, "Server data directory (its config.toml names the store)")->required();
    cmd->add_flag("--json", args->json, "JSON output");
    return cmd;
  };
  auto* add = common(user->add_subcommand("add", "Add a user and print their share link (last line)"), true);
  add->add_option("--quota", args->quota, "Bytes per month, e.g. 50G (default: none)");
  add->add_option("--expires", args->expires, "YYYY-MM-DD, +30d or never (default: never)");
  add->add_option("--tunnels", args->tunnels, "Tunnels at once (default: the server's limit)");
  add->add_option("--notes", args->notes, "Free text for the operator");
  add->add_flag("--qr", args->qr, "Also print the link as a QR code");
  auto* list = common(user->add_subcommand("list", "List users with status and this month's usage"), false);
  auto* show = common(user->add_subcommand("show", "Show one user"), true);
  auto* link = common(user->add_subcommand("link", "Print a user's share link (last line)"), true);
  link->add_flag("--qr", args->qr, "Also print the link as a QR code");
  auto* rotate =
      common(user->add_subcommand("rotate", "Give a user a new key and link; the old one works for --grace"), true);
  rotate->add_option("--grace", args->grace, "How long the old link keeps working: 7d, 12h, 0")->capture_default_str();
  rotate->add_flag("--qr", args->qr, "Also print the link as a QR code");
  auto* revoke =
      common(user->add_subcommand("revoke", "Revoke a user: their tunnels close, strangers' treatment"), true);
  auto* restore = common(user->add_subcommand("restore", "Undo a revocation: the user's link works again"), true);
  auto* remove = common(
      user->add_subcommand("delete", "Delete a user and their usage for good (the name can be added again)"), true);
  auto* quota = common(user->add_subcommand("set-quota", "Bytes per month (0 or unlimited: none)"), true);
  quota->add_option("bytes", args->value, "e.g. 50G, 500M, unlimited")->required();
  auto* expiry = common(user->add_subcommand("set-expiry", "When access ends"), true);
  expiry->add_option("when", args->value, "YYYY-MM-DD (through that UTC day), +30d, or never")->required();
  auto* tunnels = common(user->add_subcommand("set-tunnels", "Tunnels at once (0: the server's limit)"), true);
  tunnels->add_option("count", args->value, "Number of tunnels")->required();
  auto* notes = common(user->add_subcommand("set-notes", "Free text for the operator"), true);
  notes->add_option("text", args->value, "Notes")->required();
  auto* subscription = common(
      user->add_subcommand("subscription", "Print a user's subscription URL (every server of the fleet; last line)"),
      true);
  subscription->add_flag("--qr", args->qr, "Also print the URL as a QR code");
  auto* usage = user->add_subcommand("usage", "This month's usage of every user (or one)");
  usage->add_option("name", args->name, "User name (default: all)");
  usage->add_option("--dir", args->dir, "Server data directory")->required();
  usage->add_flag("--json", args->json, "JSON output");

  return [=]() -> int {
    const auto& a = *args;
    auto now = unix_now();
    if (add->parsed()) {
      if (!valid_user_name(a.name)) {
        std::cerr << "culvert: invalid user name \"" << a.name << "\" (use 1-64 of A-Z a-z 0-9 . _ -)\n";
        return 2;
      }
      UserChanges changes;
      if (!a.quota.empty() && !(changes.quota_bytes = admin::parse_bytes(a.quota))) {
        std::cerr << "culvert: --quota must be bytes such as 50G, 500M or unlimited\n";
        return 2;
      }
      if (!a.expires.empty() && !(changes.expires_at = admin::parse_expiry(a.expires, now))) {
        std::cerr << "culvert: --expires must be YYYY-MM-DD, +30d or never\n";
        return 2;
      }
      if (!a.tunnels.empty()) {
        auto n = admin::parse_bytes(a.tunnels);
        if (!n || *n > 100000) {
          std::cerr << "culvert: --tunnels must be a number\n";
          return 2;
        }
        changes.max_tunnels = static_cast<std::uint32_t>(*n);
      }
      if (!a.notes.empty()) changes.notes = a.notes;
      Context c(a.dir);
      if (!c.ok) return 1;
      auto created = c.store->add(a.name);
      if (!created) {
        std::cerr << "culvert: cannot add user \"" << a.name << "\" (does it exist already?)\n";
        return 1;
      }
      auto user = c.store->update(a.name, changes);
      if (!user) return no_user(a.name);
      return print_user(c, *user, a.json, true, a.qr);
    }
    if (list->parsed() || usage->parsed()) {
      Context c(a.dir);
      if (!c.ok) return 1;
      auto users = c.store->list();
      if (!users) {
        std::cerr << "culvert: cannot list users\n";
        return 1;
      }
      if (a.json) {
        std::cout << "[";
        bool first = true;
        for (const auto& u : *users) {
          if (!a.name.empty() && u.name != a.name) continue;
          std::cout << (first ? "" : ",") << admin::user_json(u, now);
          first = false;
        }
        std::cout << "]\n";
        return 0;
      }
      std::cout << "NAME\tSTATUS\tUSED THIS MONTH\tQUOTA\tEXPIRES\n";
      for (const auto& u : *users) {
        if (!a.name.empty() && u.name != a.name) continue;
        auto status = u.status(now);
        std::cout << u.name << "\t" << (status.empty() ? "active" : status) << "\t"
                  << admin::format_bytes(u.used_in_period(now)) << "\t"
                  << (u.quota_bytes ? admin::format_bytes(u.quota_bytes) : "none") << "\t"
                  << admin::format_time(u.expires_at) << "\n";
      }
      return 0;
    }
    if (show->parsed() || link->parsed()) {
      Context c(a.dir);
      if (!c.ok) return 1;
      auto user = c.store->get(a.name);
      if (!user) return no_user(a.name);
      if (link->parsed() && !user->usable(now))
        std::cerr << "culvert: warning: user \"" << a.name << "\" is " << user->status(now) << "\n";
      return print_user(c, *user, a.json, link->parsed(), a.qr);
    }
    if (subscription->parsed()) {
      Context c(a.dir);
      if (!c.ok) return 1;
      auto user = c.store->get(a.name);
      if (!user) return no_user(a.name);
      std::string why;
      auto url = subscription_url(c.config, *c.store, *user, why);
      if (!url) {
        std::cerr << "culvert: " << why << "\n";
        return 1;
      }
      if (a.json) {
        std::cout << "{\"name\":" << admin::json_string(a.name) << ",\"subscription\":" << admin::json_string(*url)
                  << "}\n";
        return 0;
      }
      if (a.qr) std::cout << render_qr(*url);
      std::cout << *url << std::endl;
      return 0;
    }
    if (rotate->parsed()) {
      auto grace = admin::parse_duration(a.grace);
      if (!grace) {
        std::cerr << "culvert: --grace must be a duration such as 7d, 12h or 0\n";
        return 2;
      }
      Context c(a.dir);
      if (!c.ok) return 1;
      auto user = c.store->rotate(a.name, *grace, now);
      if (!user) return no_user(a.name);
      if (!a.json)
        std::cerr << "culvert: new link for " << a.name << "; the old one works until "
                  << admin::format_time(now + *grace) << "\n";
      return print_user(c, *user, a.json, true, a.qr);
    }
    if (revoke->parsed()) {
      Context c(a.dir);
      if (!c.ok) return 1;
      if (!c.store->revoke(a.name)) return no_user(a.name);
      if (a.json) {
        std::cout << "{\"name\":" << admin::json_string(a.name) << ",\"status\":\"revoked\"}\n";
      } else {
        std::cout << "revoked " << a.name << "\n";
      }
      return 0;
    }
    if (restore->parsed() || remove->parsed()) {
      Context c(a.dir);
      if (!c.ok) return 1;
      bool restoring = restore->parsed();
      if (!(restoring ? c.store->restore(a.name) : c.store->remove(a.name))) return no_user(a.name);
      const char* status = restoring ? "active" : "deleted";
      if (a.json) {
        std::cout << "{\"name\":" << admin::json_string(a.name) << ",\"status\":\"" << status << "\"}\n";
      } else {
        std::cout << (restoring ? "restored " : "deleted ") << a.name << "\n";
      }
      return 0;
    }
    UserChanges changes;
    if (quota->parsed()) {
      if (!(changes.quota_bytes = admin::parse_bytes(a.value))) {
        std::cerr << "culvert: quota must be bytes such as 50G, 500M or unlimited\n";
        return 2;
      }
      return apply(a, changes);
    }
    if (expiry->parsed()) {
      if (!(changes.expires_at = admin::parse_expiry(a.value, now))) {
        std::cerr << "culvert: expiry must be YYYY-MM-DD, +30d or never\n";
        return 2;
      }
      return apply(a, changes);
    }
    if (tunnels->parsed()) {
      auto n = admin::parse_bytes(a.value);
      if (!n || *n > 100000) {
        std::cerr << "culvert: count must be a number\n";
        return 2;
      }
      changes.max_tunnels = static_cast<std::uint32_t>(*n);
      return apply(a, changes);
    }
    if (notes->parsed()) {
      changes.notes = a.value;
      return apply(a, changes);
    }
    return -1;
  };
}

}  // namespace culvert::app
