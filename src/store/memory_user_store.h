// MemoryUserStore: the UserStore contract held in a vector, for tests.
#pragma once

#include <algorithm>
#include <map>

#include "store/user_store.h"

namespace culvert {

class MemoryUserStore final : public UserStore {
 public:
  Result<User> add(const std::string& name) override {
    if (!valid_user_name(name)) return fail(Errc::bad_config);
    if (find(name)) return fail(Errc::store_failed);
    User u;
    u.name = name;
    u.credential = generate_credential();
    u.created_at = unix_now();
    users_.push_back(u);
    return u;
  }
  Result<std::vector<User>> list() override { return users_; }
  Result<User> get(const std::string& name) override {
    if (auto* u = find(name)) return *u;
    return fail(Errc::store_failed);
  }
  Result<void> revoke(const std::string& name) override {
    auto* u = find(name);
    if (!u) return fail(Errc::store_failed);
    u->revoked = true;
    return {};
  }
  Result<void> restore(const std::string& name) override {
    auto* u = find(name);
    if (!u) return fail(Errc::store_failed);
    u->revoked = false;
    return {};
  }
  Result<void> remove(const std::string& name) override {
    auto before = users_.size();
    std::erase_if(users_, [&](const User& u) { return u.name == name; });
    if (users_.size() == before) return fail(Errc::store_failed);
    return {};
  }
  Result<User> update(const std::string& name, const UserChanges& c) override {
    auto* u = find(name);
    if (!u) return fail(Errc::store_failed);
    if (c.quota_bytes) u->quota_bytes = *c.quota_bytes;
    if (c.expires_at) u->expires_at = *c.expires_at;
    if (c.max_tunnels) u->max_tunnels = *c.max_tunnels;
    if (c.notes) u->notes = *c.notes;
    return *u;
  }
  Result<User> rotate(const std::string& name, std::int64_t grace_seconds, std::int64_t now) override {
    auto* u = find(name);
    if (!u) return fail(Errc::store_failed);
    u->previous = u->credential;
    u->previous_until = now + grace_seconds;
    u->credential = generate_credential();
    return *u;
  }
  Result<std::optional<User>> find_active(const std::array<std::uint8_t, 8>& key_id, std::int64_t now) override {
    for (auto& u : users_) {
      if (!u.usable(now)) continue;
      if (u.credential.key_id == key_id) return std::optional<User>(u);
      if (u.previous && u.previous->key_id == key_id && now < u.previous_until) {
        User matched = u;
        matched.credential = *u.previous;
        return std::optional<User>(matched);
      }
    }
    return std::optional<User>();
  }
  Result<void> add_usage(const std::vector<UsageDelta>& deltas, std::int64_t now) override {
    for (const auto& d : deltas) {
      auto* u = find(d.name);
      if (!u) continue;
      auto month = month_start(now);
      if (u->period_start < month) {
        u->period_start = month;
        u->used_up = u->used_down = 0;
      }
      u->used_up += d.up;
      u->used_down += d.down;
    }
    return {};
  }

  Result<std::vector<FleetEntry>> fleet() override { return fleet_; }
  Result<void> fleet_put(const FleetEntry& entry) override {
    for (auto& e : fleet_)
      if (e.name == entry.name) {
        e = entry;
        return {};
      }
    fleet_.push_back(entry);
    std::sort(fleet_.begin(), fleet_.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
    return {};
  }
  Result<void> fleet_remove(const std::string& name) override {
    auto before = fleet_.size();
    std::erase_if(fleet_, [&](const FleetEntry& e) { return e.name == name; });
    if (fleet_.size() == before) return fail(Errc::store_failed);
    return {};
  }
  Result<std::array<std::uint8_t, 32>> shared_secret(const std::string& purpose) override {
    auto it = secrets_.find(purpose);
    if (it == secrets_.end()) {
      std::array<std::uint8_t, 32> fresh{};
      auto credential = generate_credential();
      fresh = credential.secret;
      it = secrets_.emplace(purpose, fresh).first;
    }
    return it->second;
  }

 private:
  std::vector<FleetEntry> fleet_;
  std::map<std::string, std::array<std::uint8_t, 32>> secrets_;
  User* find(const std::string& name) {
    for (auto& u : users_)
      if (u.name == name) return &u;
    return nullptr;
  }
  std::vector<User> users_;
};

}  // namespace culvert
