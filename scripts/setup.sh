#!/usr/bin/env bash
# Installs the Debian packages Culvert needs. Idempotent; needs root (or sudo).
#   scripts/setup.sh             what building and running Culvert needs (a server: quickstart.sh)
#   scripts/setup.sh --tests     also the test toolchain: compilers for fuzzing, the real peers and
#                                servers the tests compare against (nginx, PostgreSQL, shadowsocks,
#                                v2ray, trojan, pebble, Chromium); scripts/test.sh uses this
#   scripts/setup.sh --tests --browsers   also firefox-esr, for scripts/capture-client-hellos.py
#   scripts/setup.sh [...] --print        only list the packages (nothing is installed)
set -euo pipefail
packages=(
  build-essential cmake ninja-build pkg-config
  libssl-dev libsqlite3-dev libasio-dev libcli11-dev libspdlog-dev libfmt-dev
  libqrencode-dev libtomlplusplus-dev libexpected-dev libbrotli-dev libmaxminddb-dev libpng-dev libpq-dev
  libnghttp2-dev libngtcp2-dev libnghttp3-dev zlib1g-dev nlohmann-json3-dev
  openssl ca-certificates
)
tests=(
  git libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev clang-format
  curl python3 nodejs openssl nginx-light nghttp2-server ngtcp2-server ngtcp2-client iproute2 postgresql systemd dpkg-dev fakeroot
  shadowsocks-libev v2ray trojan zbar-tools pebble
  chromium
)
# chromium: the borrowed-site test sends a real browser to the server; firefox only for captures.
print_only=0
for arg in "$@"; do
  case "$arg" in
    --tests) packages+=("${tests[@]}") ;;
    --browsers) packages+=(firefox-esr) ;;
    --print) print_only=1 ;;
    *) echo "setup: unknown option $arg (--tests, --browsers, --print)" >&2; exit 2 ;;
  esac
done
if [ "$print_only" -eq 1 ]; then
  printf '%s\n' "${packages[@]}"
  exit 0
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo_cmd apt-get update -qq
  # Packages such as nginx start a system service on install; tests start their own instances on
  # loopback, so keep the install from starting (or failing to start) any service.
  policy=/usr/sbin/policy-rc.d
  made_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo_cmd tee "$policy" >/dev/null
    $sudo_cmd chmod +x "$policy"
    made_policy=1
  fi
  status=0
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    status=$?
  [ "$made_policy" -eq 1 ] && $sudo_cmd rm -f "$policy"
  [ "$status" -eq 0 ] || exit "$status"
fi
echo "setup: all packages present"
