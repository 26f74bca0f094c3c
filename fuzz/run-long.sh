#!/usr/bin/env bash
# Runs every libFuzzer target for a long time (default 600 s each), one after another, with the
# committed corpus as seeds. New inputs go to build-fuzz/fuzz/long/<target>/; crashes are written as
# build-fuzz/fuzz/crash-<target>-* and fail the run (add each as a seed and a regression test).
#   fuzz/run-long.sh [SECONDS_PER_TARGET]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
./scripts/setup.sh
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCULVERT_FUZZ=ON >/dev/null
cmake --build build-fuzz -j "$(nproc)"
status=0
for binary in build-fuzz/fuzz/*_fuzz; do
  name=$(basename "$binary" _fuzz)
  mkdir -p "build-fuzz/fuzz/long/$name"
  echo "=== $name: ${seconds}s"
  if ! "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="build-fuzz/fuzz/crash-$name-" "build-fuzz/fuzz/long/$name" "fuzz/corpus/$name"; then
    status=1
  fi
done
exit $status
