// MemoryUserStore: the UserStore contract held in a vector, for tests.
#pragma once

#include <algorithm>
#include <ctime>

#include "store/user_store.h"

namespace culvert {

class MemoryUserStore final : public UserStore {
 public:
  Result<User> add(const std::string& name) override {
    if (!valid_user_name(name)) return fail(Errc::bad_config);
    if (std::any_of(users_.begin(), users_.end(), [&](const User& u) { return u.name == name; }))
      return fail(Errc::store_failed);
    users_.push_back(User{name, generate_credential(), static_cast<std::int64_t>(std::time(nullptr)), false});
    return users_.back();
  }
  Result<std::vector<User>> list() override { return users_; }
  Result<User> get(const std::string& name) override {
    for (auto& u : users_)
      if (u.name == name) return u;
    return fail(Errc::store_failed);
  }
  Result<void> revoke(const std::string& name) override {
    for (auto& u : users_)
      if (u.name == name) {
        u.revoked = true;
        return {};
      }
    return fail(Errc::store_failed);
  }
  Result<std::optional<User>> find_active(const std::array<std::uint8_t, 8>& key_id) override {
    for (auto& u : users_)
      if (!u.revoked && u.credential.key_id == key_id) return std::optional<User>(u);
    return std::optional<User>();
  }

 private:
  std::vector<User> users_;
};

}  // namespace culvert
