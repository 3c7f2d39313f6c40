#!/usr/bin/env bash
# bench.sh is `make bench`: every benchmark of cen, each beside the reference it is measured against in the same
# run. Expect about 40 minutes on a 2-core machine.
#   1. Go micro-benchmarks (engine kernels with the SGEMM peak, preprocessing pipeline on one core).
#   2. Training step, Go engine vs PyTorch (scripts/bench_train.sh), and the training loop vs the bare step
#      (scripts/bench_train_loop.sh).
#   3. Inference, ONNX Runtime vs PyTorch eager (scripts/bench_infer.sh).
#   4. The node under roslaunch: latency over inference, highest rate kept up with, memory over 5,000 frames.
#   5. Bags: reading a 630 MB bag vs ROS's Python rosbag; cen eval's peak memory on a 5x longer bag.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
echo "== Go benchmarks: engine kernels (GFLOP/s beside BenchmarkSgemm)"
go test -run '^$' -bench . -benchtime "${BENCHTIME:-10x}" -count 1 ./cen/engine/
echo
echo "== Go benchmarks: preprocessing and post-processing of a 640x480 RGB-D pair on one core"
GOMAXPROCS=1 OPENCV_FOR_THREADS_NUM=1 taskset -c 0 go test -run '^$' -bench 'Pipeline|Register|Input' -benchtime 50x -count 1 ./preprocess/
echo
echo "== Go benchmark: what the inference library adds around the backend at 640x480 (one core)"
GOMAXPROCS=1 OPENCV_FOR_THREADS_NUM=1 taskset -c 0 go test -run '^$' -bench 'SegmentOverhead' -benchtime 30x -count 1 ./infer/
echo
echo "== Training step: Go engine vs PyTorch (same machine, same threads)"
scripts/bench_train.sh refinenet-r50 240 320 2 1 2
echo
echo "== Inference: Go engine vs ONNX Runtime vs PyTorch eager (same machine, same threads)"
bash scripts/bench_infer.sh
echo
echo "== Training loop: images/s of cen train (loading and augmentation included) vs the bare step of cen bench train"
bash scripts/bench_train_loop.sh
echo
echo "== The node (roslaunch, a real master, 640x480 frames over TCPROS)"
go test -run '^$' -bench 'Node' -benchtime 1x -timeout 60m ./test/
echo
echo "== Bags: reading every message vs ROS's Python rosbag (x_python), and cen eval's memory on a 5x longer bag"
go test -run '^$' -bench 'ReadAll' -benchtime 3x ./bags/rosbag/
go test -run '^$' -bench 'EvalMemory' -benchtime 1x ./test/
