#!/usr/bin/env bash
# bench_infer.sh compares cen's inference backends (the Go engine on a checkpoint, ONNX Runtime on the exported
# model) with each other and with the PyTorch reference model in eager mode on the same machine, in the same run,
# with the same thread counts, and measures them against the machine's SGEMM peak (OpenBLAS 1024³, the engine's
# BenchmarkSgemm):
#   refinenet-r50 at 240×320 (287 GFLOP per frame; goal: no slower than PyTorch and ≥ 80 % of peak)
#   lite-r18 at 480×640 (goal: ≥ 1.5× faster than PyTorch)
# and against the strongest thing a user could deploy instead: the PyTorch network exported with
# torch.onnx.export and run in the same ONNX Runtime (torch→ORT). cen's export is timed twice: plain Conv nodes
# and Winograd F(4×4, 3×3) (`cen export --conv3x3 winograd`; goal ≥ 1.5× faster than torch→ORT).
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
    "$tmp/cen" bench infer --random "$arch" --height "$h" --width "$w" --device cpu --threads "$t" --iters "$iters" \
      --backends go-engine,onnxruntime,onnxruntime-winograd 2>/dev/null |
      sed 's/"backend":"go-engine"/"kind":"engine","backend":"go-engine"/; s/"backend":"onnxruntime","conv3x3":"plain"/"kind":"ort","backend":"onnxruntime","conv3x3":"plain"/; s/"backend":"onnxruntime","conv3x3":"winograd"/"kind":"ort_wino","backend":"onnxruntime","conv3x3":"winograd"/' >>"$results"
    if [ ! -f "$tmp/$arch-torch.onnx" ]; then
      "$py" scripts/torch_bench.py export-onnx --arch "$arch" --height "$h" --width "$w" --out "$tmp/$arch-torch.onnx" >/dev/null 2>&1
    fi
    "$tmp/cen" bench onnx --model "$tmp/$arch-torch.onnx" --threads "$t" --iters "$iters" |
      sed "s/^{/{\"kind\": \"torch_ort\", \"arch\": \"$arch\", /" >>"$results"
    # cen's export also upsamples the logits bicubically to the input size and computes labels and confidence
    # there; torch→ORT stops at the logits. The same graphs cut at the logits compare the networks alone.
    for conv in plain winograd; do
      [ -f "$tmp/$arch-$conv-logits.onnx" ] ||
        "$tmp/cen" export --random "$arch" --height "$h" --width "$w" --logits-only --conv3x3 "$conv" -o "$tmp/$arch-$conv-logits.onnx" >/dev/null
      "$tmp/cen" bench onnx --model "$tmp/$arch-$conv-logits.onnx" --threads "$t" --iters "$iters" |
        sed "s/^{/{\"kind\": \"logits_$conv\", \"arch\": \"$arch\", /" >>"$results"
    done
    # int8 (cen export --int8, activation scales from 8 synthetic frames), whole and cut at the logits.
    [ -d "$tmp/calib" ] || "$tmp/cen" synth --out "$tmp/calib" --n 10 --size 240x320 >/dev/null 2>&1
    for cut in "" --logits-only; do
      [ -f "$tmp/$arch-int8$cut.onnx" ] || # one export serves every thread count
        "$tmp/cen" export --random "$arch" --height "$h" --width "$w" $cut --int8 --calibrate "$tmp/calib" --calib-frames 8 \
          -o "$tmp/$arch-int8$cut.onnx" >/dev/null 2>&1
      "$tmp/cen" bench onnx --model "$tmp/$arch-int8$cut.onnx" --threads "$t" --iters "$iters" |
        sed "s/^{/{\"kind\": \"int8${cut:+_logits}\", \"arch\": \"$arch\", /" >>"$results"
    done
    OMP_NUM_THREADS=$t "$py" scripts/torch_bench.py infer --arch "$arch" --height "$h" --width "$w" --threads "$t" \
      --iters "$iters" | sed 's/^{/{"kind": "torch", /' >>"$results"
  done
done

"$py" - "$results" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
peak = {r['threads']: r['gflops'] for r in rows if r['kind'] == 'sgemm'}
by = {k: {(r['arch'], r['threads']): r for r in rows if r['kind'] == k} for k in ('ort', 'ort_wino', 'engine', 'torch', 'torch_ort', 'logits_plain', 'logits_winograd', 'int8', 'int8_logits')}
print('%-14s %-8s %3s | %9s %9s %6s | %12s %6s | %9s %9s | %9s %9s %9s | %6s' % (
    'model', 'size', 'thr', 'torch→ORT', 'ORT plain', '%peak', 'ORT winograd', '%peak', 'engine', 'torch', 'wino/t→O',
    'plain/t→O', 'ORT/torch', 'SGEMM'))
for (arch, t), o in sorted(by['ort'].items()):
    wgo, e, p, tr = by['ort_wino'][(arch, t)], by['engine'][(arch, t)], by['torch'][(arch, t)], by['torch_ort'][(arch, t)]
    gf = o['gflop_per_frame']
    pct = lambda ms: 100 * gf / (ms / 1e3) / peak[t]
    print('%-14s %-8s %3d | %9.1f %9.1f %5.0f%% | %12.1f %5.0f%% | %9.1f %9.1f | %8.2fx %8.2fx %8.2fx | %6.1f' % (
        arch, '%dx%d' % (o['height'], o['width']), t, tr['p50_ms'], o['p50_ms'], pct(o['p50_ms']), wgo['p50_ms'],
        pct(wgo['p50_ms']), e['p50_ms'], p['ms_p50'], tr['p50_ms'] / wgo['p50_ms'], tr['p50_ms'] / o['p50_ms'],
        p['ms_p50'] / o['p50_ms'], peak[t]))
print("(ms: p50 of %d frames after warm-up. wino/t→O and plain/t→O: how many times faster cen's Winograd and plain exports run "
      "than torch.onnx.export of the same network in the same ONNX Runtime; ORT/torch: the plain export against PyTorch eager. "
      "%%peak: dense-convolution FLOP rate over the SGEMM peak; Winograd does fewer FLOPs, so it can pass 100 %%.)" % (
    next(iter(by['ort'].values()))['iters']))
print()
print('networks alone (graphs cut at the logits, as torch.onnx.export writes them):')
print('%-14s %-8s %3s | %9s %9s %9s %9s | %9s %9s %9s | %s' % ('model', 'size', 'thr', 'torch→ORT', 'plain', 'winograd', 'int8',
      'wino/t→O', 'plain/t→O', 'int8/t→O', 'int8 whole graph'))
for (arch, t), tr in sorted(by['torch_ort'].items()):
    lp, lw, li = by['logits_plain'][(arch, t)], by['logits_winograd'][(arch, t)], by['int8_logits'][(arch, t)]
    o, iw = by['ort'][(arch, t)], by['int8'][(arch, t)]
    print('%-14s %-8s %3d | %9.1f %9.1f %9.1f %9.1f | %8.2fx %8.2fx %8.2fx | %.1f ms (fp32 whole graph %.1f ms: %.2fx)' % (
          arch, '%dx%d' % (o['height'], o['width']), t, tr['p50_ms'], lp['p50_ms'], lw['p50_ms'], li['p50_ms'],
          tr['p50_ms'] / lw['p50_ms'], tr['p50_ms'] / lp['p50_ms'], tr['p50_ms'] / li['p50_ms'],
          iw['p50_ms'], o['p50_ms'], o['p50_ms'] / iw['p50_ms']))
print('(GFLOP counts convolutions: %s)' % ', '.join('%s %.1f GFLOP/frame' % (a, o['gflop_per_frame']) for (a, t), o in by['ort'].items() if t == min(peak)))
EOF
