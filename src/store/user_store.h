// UserStore: who may open tunnels. The server asks it once per new tunnel, so a revocation takes
// effect for the next tunnel without a restart. Implementations: SqliteUserStore (default, a file in
// the data directory) and MemoryUserStore (tests). Not thread-safe: use from one thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "link/share_link.h"

namespace culvert {

struct User {
  std::string name;
  UserCredential credential;
  std::int64_t created_at = 0;  // unix seconds
  bool revoked = false;
};

class UserStore {
 public:
  virtual ~UserStore() = default;
  // Creates a user with a fresh random credential. Fails if the name is taken or invalid.
  virtual Result<User> add(const std::string& name) = 0;
  virtual Result<std::vector<User>> list() = 0;
  virtual Result<User> get(const std::string& name) = 0;
  // Marks the user revoked; their next tunnel is refused (served the cover site).
  virtual Result<void> revoke(const std::string& name) = 0;
  // The active (not revoked) user with this key id, if any.
  virtual Result<std::optional<User>> find_active(const std::array<std::uint8_t, 8>& key_id) = 0;
};

// Names are 1-64 characters of [A-Za-z0-9._-]; they appear in links and logs, so nothing else.
bool valid_user_name(const std::string& name);
UserCredential generate_credential();

}  // namespace culvert
