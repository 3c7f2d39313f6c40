#!/usr/bin/env bash
# bench.sh runs cen's benchmarks. Every figure is reported beside the reference it is measured against in the
# same run (the machine's SGEMM peak, PyTorch on the same CPU and threads, the Python rosbag reader).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
echo "== Go benchmarks (go test -bench)"
go test -run '^$' -bench "${BENCH:-.}" -benchtime "${BENCHTIME:-1x}" -count 1 ./...
