#!/bin/sh
# Full comparison run (about two hours on 2 cores): loopback, then the emulated link (needs root).
# Writes build/compare/results.{md,json}; copy the table into docs/performance.md with the date.
set -e
cd "$(dirname "$0")/../.."
[ -x build/culvert ] || cmake --build build
exec python3 bench/compare/compare.py "$@"
