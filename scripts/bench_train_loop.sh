#!/usr/bin/env bash
# bench_train_loop.sh: is data loading and augmentation hidden behind compute? Images/s of `cen train` on
# synthetic data (reading PNGs, the augmentation, the loader's workers, the steps, the log) against the bare
# step rate of `cen bench train` (random tensors already in memory) at the same architecture, crop, batch and
# threads, in the same run. Goal: the ratio >= 0.95.
#   scripts/bench_train_loop.sh [WIDTH_MULT] [CROP_H] [CROP_W] [BATCH] [THREADS]
# Defaults: lite-r18 at width 0.5, 112x144 crops of 120x160 frames, batch 6, 2 threads (make repro-synthetic's).
set -euo pipefail
cd "$(dirname "$0")/.."
mult=${1:-0.5}; ch=${2:-112}; cw=${3:-144}; batch=${4:-6}; threads=${5:-2}
steps=${STEPS:-60}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bin/cen synth --out "$tmp/data" --n $(( (steps + 2) * batch + 4 )) --size 120x160 --val 4 >/dev/null 2>&1
bare=$(OPENBLAS_NUM_THREADS=1 bin/cen bench train --arch lite-r18 --width-mult "$mult" --height "$ch" --width "$cw" --batch "$batch" \
  --classes 12 --bn-train --threads "$threads" --iters 20 --warmup 3)
bin/cen train --dataset synthetic --data "$tmp/data" --arch lite-r18 --width "$mult" --crop "${ch}x${cw}" --batch "$batch" \
  --epochs 1 --steps "$steps" --val-every 1000 --threads "$threads" --out "$tmp/run" >/dev/null 2>&1
/usr/bin/python3 - "$bare" "$tmp/run/log.jsonl" "$batch" "$mult" "$threads" <<'PY'
import json, sys
bare, log, batch, mult, threads = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
steps = [json.loads(l) for l in open(log) if '"kind":"step"' in l]
# The first record holds the start-up (the loader's first batches, the first allocations): leave it out.
recs = [s for s in steps[1:] if "images_per_s" in s]
loop = sum(s["images_per_s"] for s in recs) / len(recs)
step = batch * 1000 / bare["ms_per_step_median"]
print("lite-r18 width %s, %dx%d crops, batch %d, %s threads, %d step records" % (mult, bare["height"], bare["width"], batch, threads, len(recs)))
print("%-12s %12s %12s %8s" % ("", "cen train", "bench train", "ratio"))
print("%-12s %12.2f %12.2f %8.3f" % ("images/s", loop, step, loop / step))
PY
