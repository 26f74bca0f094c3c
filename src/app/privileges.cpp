#include "app/privileges.h"

#include <grp.h>
#include <pwd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>

namespace culvert::app {

bool drop_privileges(const std::string& user, const std::string& data_dir, std::string& message) {
  struct passwd* pw = ::getpwnam(user.c_str());
  if (!pw) {
    message = "run_as user \"" + user + "\" does not exist (create it: useradd --system --no-create-home " + user + ")";
    return false;
  }
  uid_t uid = pw->pw_uid;
  gid_t gid = pw->pw_gid;
  // The store, keys and admin token stay readable (and the store writable) after the switch.
  std::error_code ec;
  if (::lchown(data_dir.c_str(), uid, gid) != 0) {
    message = "cannot hand " + data_dir + " to " + user;
    return false;
  }
  for (auto it = std::filesystem::recursive_directory_iterator(data_dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (::lchown(it->path().c_str(), uid, gid) != 0) {
      message = "cannot hand " + it->path().string() + " to " + user;
      return false;
    }
  }
  if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) {
    message = "cannot switch to user " + user;
    return false;
  }
  if (uid != 0 && (::setuid(0) == 0 || ::geteuid() == 0)) {
    message = "root could be regained after switching to " + user;
    return false;
  }
  return true;
}

std::uint64_t raise_open_file_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  return static_cast<std::uint64_t>(limit.rlim_cur);
}

}  // namespace culvert::app
