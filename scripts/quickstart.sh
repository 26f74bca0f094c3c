#!/usr/bin/env bash
# One command for a fresh Debian 12 server: install packages, build, initialise a data directory
# with embedded defaults (config, users, keys, certificate, cover site) on first run, print the
# first user's share link and QR code, and run the server in the foreground.
#
#   scripts/quickstart.sh [--dir DIR] [any `culvert server init` option, e.g. --public-host NAME]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=./data
init_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir=$2; shift 2 ;;
    *) init_args+=("$1"); shift ;;
  esac
done

./scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCULVERT_TESTS=OFF -DCULVERT_BENCH=OFF >/dev/null
cmake --build build --target culvert -j "$(nproc)"

if [ ! -f "$dir/config.toml" ]; then
  ./build/culvert server init --dir "$dir" "${init_args[@]}"
  # As root: bind, then run as an unprivileged system user of its own.
  if [ "$(id -u)" -eq 0 ]; then
    id culvert >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin culvert
    sed -i 's/^run_as = ""/run_as = "culvert"/' "$dir/config.toml"
  fi
else
  if [ ${#init_args[@]} -gt 0 ]; then
    # init only ever runs once per directory: say so rather than ignore the options silently.
    echo "Note: $dir already holds a server, so these options were not applied: ${init_args[*]}"
    echo "      To change it, edit $dir/config.toml (every key is commented; then restart, or SIGHUP"
    echo "      for most keys), or start over elsewhere: scripts/quickstart.sh --dir NEWDIR ${init_args[*]}"
  fi
  echo "Using the existing server in $dir. Share link for user \"default\":"
  ./build/culvert user link default --dir "$dir" --qr
fi
echo "Starting the server (Ctrl-C stops it)."
exec ./build/culvert server run --dir "$dir"
