// `culvert user ...`: users of a server, against the store its configuration names (SQLite or
// PostgreSQL). Every command takes --dir; --json prints machine-readable output for scripts.
#pragma once

#include <CLI/CLI.hpp>

namespace culvert::app {

// Adds the `user` subcommands to `app`; returns a function that runs whichever was parsed (its
// exit code), or -1 when none was.
std::function<int()> add_user_commands(CLI::App& app);

}  // namespace culvert::app
