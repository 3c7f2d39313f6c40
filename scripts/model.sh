#!/usr/bin/env bash
# model.sh is `make model`: trains the shipped model models/synthetic-lite-r18.onnx again, from nothing but
# this repository, and writes its evaluation beside it (models/synthetic-lite-r18.json, models/README.md's
# figures come from it).
#   1. cen synth: 1000 synthetic RGB-D frames of 120x160 (scene seed 0), the last 100 for validation;
#   2. cen train: lite-r18 at width 0.25 (a 6 MB ONNX file), the lite recipe from scratch (BN in training mode,
#      poly learning rate 0.02, dropout 0.1, lambda 0.06), 112x144 crops, batch 6, 16 epochs, seed 1, 2 engine
#      threads (the sums depend on the thread count: the same machine type gives the same model bit for bit);
#   3. the run's ONNX export of its best checkpoint becomes the shipped model;
#   4. cen eval --data on the validation frames (rgb, depth and ensemble outputs) and cen eval --bag on the
#      60-frame 240x320 bag make run plays (scene seed 7: scenes the model never saw).
# About 30 minutes on a 2-core machine. MODEL_OUT (model-out) keeps the data and the run; a killed run
# continues where it stopped when make model is run again.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${MODEL_OUT:-model-out}
cen=$PWD/bin/cen
name=synthetic-lite-r18
mkdir -p "$out" models
if [ ! -f "$out/data/val.txt" ]; then
  "$cen" synth --out "$out/data" --n 1000 --size 120x160 --seed 0 --val 100
fi
if [ -f "$out/run/last.ckpt" ] && [ ! -f "$out/run/model.onnx" ]; then
  "$cen" train --resume "$out/run"
elif [ ! -f "$out/run/model.onnx" ]; then
  "$cen" train --dataset synthetic --data "$out/data" --arch lite-r18 --width 0.25 --epochs 16 --batch 6 \
    --crop 112x144 --val-every 4 --seed 1 --threads 2 --out "$out/run"
fi
cp "$out/run/model.onnx" "models/$name.onnx.tmp" && mv "models/$name.onnx.tmp" "models/$name.onnx"
"$cen" eval --data "$out/data" --dataset synthetic --model "models/$name.onnx" --json "$out/data-eval.json"
"$cen" synth --bag "$out/make-run.bag" --n 60 --size 240x320 --seed 7
"$cen" eval --model "models/$name.onnx" --bag "$out/make-run.bag" --json "$out/bag-eval.json" --report "$out/bag-report"
/usr/bin/python3 - "$out" "models/$name.json" <<'EOF'
import json, sys
out, dst = sys.argv[1], sys.argv[2]
data, bag = json.load(open(out + "/data-eval.json")), json.load(open(out + "/bag-eval.json"))
keep = ("pixel_acc", "mean_acc", "miou", "per_class_iou", "frames_scored", "outputs", "model")
summary = {"validation_frames": {k: data[k] for k in keep if k in data},
           "make_run_bag_offline": {k: bag[k] for k in keep + ("latency_ms",) if k in bag}}
open(dst, "w").write(json.dumps(summary, indent=2) + "\n")
print("wrote", dst)
EOF
echo "shipped model: models/$name.onnx ($(du -h "models/$name.onnx" | cut -f1)); its evaluation: models/$name.json"
