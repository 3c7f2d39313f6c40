#!/usr/bin/env bash
# bench_infer.sh compares cen's inference backends (the Go engine on a checkpoint, ONNX Runtime on the exported
# model) with each other and with the PyTorch reference model in eager mode on the same machine, in the same run,
# with the same thread counts, and measures them against the machine's SGEMM peak (OpenBLAS 1024³, the engine's
# BenchmarkSgemm):
#   refinenet-r50 at 240×320 (287 GFLOP per frame; goal: no slower than PyTorch and ≥ 80 % of peak)
#   lite-r18 at 480×640 (goal: ≥ 1.5× faster than PyTorch)
# Both networks are full width with random weights (2 modalities, 40 classes); one frame, batch 1 per modality.
#   THREADS="1 2" ITERS=5 bash scripts/bench_infer.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
threads=${THREADS:-"1 2"}
iters=${ITERS:-5}
py=/usr/bin/python3

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/cen" ./cmd/cen
go test -c -o "$tmp/engine.test" ./cen/engine

cases=("refinenet-r50 240 320" "lite-r18 480 640")

results="$tmp/results.jsonl"
for t in $threads; do
  peak=$(GOMAXPROCS=$t OPENBLAS_NUM_THREADS=$t "$tmp/engine.test" -test.run '^$' -test.bench '^BenchmarkSgemm$' \
    -test.benchtime 20x -test.cpu "$t" | awk '/GFLOP\/s/ { for (i = 1; i < NF; i++) if ($(i+1) == "GFLOP/s") print $i }')
  echo "{\"kind\": \"sgemm\", \"threads\": $t, \"gflops\": $peak}" >>"$results"
  for c in "${cases[@]}"; do
    read -r arch h w <<<"$c"
    # One untrained network, saved as a checkpoint (Go engine) and exported (ONNX Runtime), timed in one run.
    "$tmp/cen" bench infer --random "$arch" --height "$h" --width "$w" --device cpu --threads "$t" --iters "$iters" 2>/dev/null |
      sed 's/"backend":"go-engine"/"kind":"engine","backend":"go-engine"/; s/"backend":"onnxruntime"/"kind":"ort","backend":"onnxruntime"/' >>"$results"
    OMP_NUM_THREADS=$t "$py" scripts/torch_bench.py infer --arch "$arch" --height "$h" --width "$w" --threads "$t" \
      --iters "$iters" | sed 's/^{/{"kind": "torch", /' >>"$results"
  done
done

"$py" - "$results" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
peak = {r['threads']: r['gflops'] for r in rows if r['kind'] == 'sgemm'}
ort = {(r['arch'], r['threads']): r for r in rows if r['kind'] == 'ort'}
eng = {(r['arch'], r['threads']): r for r in rows if r['kind'] == 'engine'}
torch = {(r['arch'], r['threads']): r for r in rows if r['kind'] == 'torch'}
print('%-14s %-8s %3s | %10s %8s %6s | %10s %6s | %10s %8s %6s | %9s %9s | %6s' % (
    'model', 'size', 'thr', 'ORT p50 ms', 'GFLOP/s', '%peak', 'engine ms', '%peak', 'torch ms', 'GFLOP/s', '%peak',
    'ORT/torch', 'eng/ORT', 'SGEMM'))
for (arch, t), o in sorted(ort.items()):
    p = torch[(arch, t)]
    e = eng[(arch, t)]
    gf = o['gflop_per_frame']
    tr = gf / (p['ms_p50'] / 1e3)
    print('%-14s %-8s %3d | %10.1f %8.1f %5.0f%% | %10.1f %5.0f%% | %10.1f %8.1f %5.0f%% | %8.2fx %8.2fx | %6.1f' % (
        arch, '%dx%d' % (o['height'], o['width']), t, o['p50_ms'], o['gflops_rate'], 100 * o['gflops_rate'] / peak[t],
        e['p50_ms'], 100 * e['gflops_rate'] / peak[t],
        p['ms_p50'], tr, 100 * tr / peak[t], p['ms_p50'] / o['p50_ms'], e['p50_ms'] / o['p50_ms'], peak[t]))
print('(ORT/torch: how many times faster ONNX Runtime runs the export than PyTorch eager; eng/ORT: Go engine time over ONNX Runtime time)')
print('(p50 of %d frames after warm-up; GFLOP counts convolutions, %s)' % (
    next(iter(ort.values()))['iters'], ', '.join('%s %.1f GFLOP/frame' % (a, o['gflop_per_frame']) for (a, t), o in ort.items() if t == min(peak))))
EOF
