#include "store/user_store.h"

#include <ctime>

#include "crypto/crypto.h"

namespace culvert {

bool valid_user_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    bool ok =
        (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

UserCredential generate_credential() {
  UserCredential c;
  crypto::random_bytes(c.key_id);
  crypto::random_bytes(c.secret);
  return c;
}

std::int64_t month_start(std::int64_t now) {
  std::time_t t = static_cast<std::time_t>(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  tm.tm_mday = 1;
  tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
  return static_cast<std::int64_t>(timegm(&tm));
}

std::int64_t unix_now() { return static_cast<std::int64_t>(std::time(nullptr)); }

std::uint64_t User::used_in_period(std::int64_t now) const {
  return period_start < month_start(now) ? 0 : used_up + used_down;
}

std::string User::status(std::int64_t now) const {
  if (revoked) return "revoked";
  if (expires_at != 0 && now >= expires_at) return "expired";
  if (quota_bytes != 0 && used_in_period(now) >= quota_bytes) return "over quota";
  return "";
}

bool User::usable(std::int64_t now) const { return status(now).empty(); }

}  // namespace culvert
