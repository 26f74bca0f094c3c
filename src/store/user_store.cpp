#include "store/user_store.h"

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

}  // namespace culvert
