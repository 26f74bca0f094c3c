// Dropping root: a server started as root (to bind port 443) hands its data directory to the
// configured user and becomes that user, for good, before it serves anyone.
#pragma once

#include <string>

namespace culvert::app {

// chown -R `data_dir` to `user`, then setgroups/setgid/setuid to it; checks root cannot be regained.
// False with a message when the user does not exist or a step fails (then the caller must exit).
bool drop_privileges(const std::string& user, const std::string& data_dir, std::string& message);

}  // namespace culvert::app
