#!/usr/bin/env bash
# bench_train.sh times one training step of cen's Go engine and of the PyTorch reference model on the same
# machine, in the same run, with the same threads, and prints the ratio (Go / PyTorch: below 1 means Go is
# faster) and the FLOP rate against the machine's SGEMM peak.
#   scripts/bench_train.sh [ARCH] [HEIGHT] [WIDTH] [BATCH] [THREADS...]
# Defaults: refinenet-r50 240 320 2, threads 1 and 2 (the issue's set-up). Needs bin/cen (make build) and
# Debian's python3-torch (make setup).
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${1:-refinenet-r50}; h=${2:-240}; w=${3:-320}; b=${4:-2}
shift $(( $# < 4 ? $# : 4 )) || true
threads=${*:-1 2}
iters=${ITERS:-3}
peak=$(go test -run '^$' -bench 'BenchmarkSgemm$' -benchtime 20x ./cen/engine/ | awk '/GFLOP/ {for (i=1;i<=NF;i++) if ($(i+1)=="GFLOP/s") print $i}' | head -n1)
echo "SGEMM peak (OpenBLAS, 1024^3, all threads): ${peak} GFLOP/s"
printf '%-8s %14s %14s %8s %12s %10s %10s\n' threads go_ms torch_ms ratio go_GFLOP/s go_MB torch_MB
for t in $threads; do
  go=$(OPENBLAS_NUM_THREADS=$t bin/cen bench train --arch "$arch" --height "$h" --width "$w" --batch "$b" --threads "$t" --iters "$iters")
  py=$(/usr/bin/python3 scripts/torch_bench.py train --arch "$arch" --height "$h" --width "$w" --batch "$b" --threads "$t" --iters "$iters")
  /usr/bin/python3 - "$t" "$go" "$py" <<'PY'
import json, sys
t, go, py = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
g, p = go['ms_per_step_median'], py['ms_per_step_median']
print('%-8s %14.1f %14.1f %8.3f %12.1f %10.0f %10.0f' % (t, g, p, g / p, go['gflops_rate'], go['peak_rss_mb'], py['peak_rss_mb']))
PY
done
