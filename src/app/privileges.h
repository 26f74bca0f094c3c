// Dropping root: a server started as root (to bind port 443) hands its data directory to the
// configured user and becomes that user, for good, before it serves anyone.
#pragma once

#include <cstdint>
#include <string>

namespace culvert::app {

// chown -R `data_dir` to `user`, then setgroups/setgid/setuid to it; checks root cannot be regained.
// False with a message when the user does not exist or a step fails (then the caller must exit).
bool drop_privileges(const std::string& user, const std::string& data_dir, std::string& message);

// Raises the soft limit on open files to the hard limit (each connection is a descriptor; a
// 1,024 default would refuse a busy server's clients). Returns the limit now in force.
std::uint64_t raise_open_file_limit();

}  // namespace culvert::app
