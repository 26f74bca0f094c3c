#!/usr/bin/env bash
# Installs what is missing, then builds and runs every test three ways:
#   build/       GCC, RelWithDebInfo: unit tests, fuzz-corpus replay, end-to-end tests
#   build-asan/  GCC, AddressSanitizer + UndefinedBehaviorSanitizer: the same suite
#   build-fuzz/  clang + libFuzzer (+ ASan): each fuzz target for CULVERT_FUZZ_SECONDS (default 20)
# Ends with one line, "N passed, N failed", summed over the three CTest runs; exits non-zero on any
# failure, including a build that does not compile.
set -uo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --tests || exit 1

jobs=$(nproc)
fuzz_seconds=${CULVERT_FUZZ_SECONDS:-20}
total_passed=0
total_failed=0

suite() {
  local name=$1 dir=$2
  shift 2
  echo "=== $name ($dir)"
  if ! cmake -S . -B "$dir" -G Ninja "$@" >"$dir/configure.log" 2>&1; then
    cat "$dir/configure.log"
    echo "$name: configure failed"
    total_failed=$((total_failed + 1))
    return
  fi
  if ! cmake --build "$dir" -j "$jobs"; then
    echo "$name: build failed"
    total_failed=$((total_failed + 1))
    return
  fi
  ctest --test-dir "$dir" --output-on-failure -j "$jobs" 2>&1 | tee "$dir/ctest.log"
  local line tests failed
  line=$(grep -E "tests passed, [0-9]+ tests? failed out of [0-9]+" "$dir/ctest.log" | tail -1)
  if [ -z "$line" ]; then
    echo "$name: ctest printed no summary"
    total_failed=$((total_failed + 1))
    return
  fi
  failed=$(echo "$line" | sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/')
  tests=$(echo "$line" | sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\2/')
  total_passed=$((total_passed + tests - failed))
  total_failed=$((total_failed + failed))
}

mkdir -p build build-asan build-fuzz
suite "release" build -DCULVERT_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCULVERT_TESTS=ON -DCULVERT_SANITIZE=OFF -DCULVERT_FUZZ=OFF
suite "asan+ubsan" build-asan -DCULVERT_WERROR=ON -DCMAKE_BUILD_TYPE=Debug -DCULVERT_SANITIZE=ON -DCULVERT_TESTS=ON -DCULVERT_FUZZ=OFF -DCULVERT_BENCH=OFF
CC=clang CXX=clang++ suite "fuzz" build-fuzz -DCULVERT_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCULVERT_FUZZ=ON \
  -DCULVERT_FUZZ_SECONDS="$fuzz_seconds"

echo
echo "$total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
