#!/usr/bin/env bash
# run.sh is `make run`: the whole system on the shipped model, on this machine alone.
#   1. a rosmaster of its own on a free port (a robot's master, if one runs, is left alone), then `cen doctor`;
#   2. `cen synth --bag`: synthetic RGB-D frames (colour, 16UC1 depth, camera infos, ground truth) as a bag;
#   3. `cen eval --live`: roslaunch cen_ros segmentation.launch on the shipped model, rosbag play --clock the bag
#      into it, score the labels the node publishes, rosbag record them;
#   4. everything it started is stopped, also on Ctrl-C; the results stay in run-out/.
# Environment: RUN_OUT (run-out), RUN_MODEL (models/synthetic-lite-r18.onnx), RUN_FRAMES (60), RUN_DEVICE (auto).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${RUN_OUT:-run-out}
model=${RUN_MODEL:-models/synthetic-lite-r18.onnx}
frames=${RUN_FRAMES:-60}
device=${RUN_DEVICE:-auto}
cen=$PWD/bin/cen

master=""
stop_master() {
  if [ -n "$master" ]; then
    # A background rosmaster ignores SIGINT: SIGTERM stops it.
    kill -TERM "$master" 2>/dev/null || true
    wait "$master" 2>/dev/null || true
    master=""
  fi
}
trap 'rc=$?; stop_master; exit $rc' EXIT
trap 'echo "make run: interrupted; stopping what it started" >&2; exit 130' INT
trap 'exit 143' TERM

# Only a previous run's folder is replaced: anything else at $out is the user's.
if [ -e "$out" ] && [ -n "$(ls -A "$out" 2>/dev/null)" ] && [ ! -f "$out/input.bag" ] && [ ! -d "$out/ros" ]; then
  echo "make run: $out exists and is not the output of an earlier make run; move it away or set RUN_OUT" >&2
  exit 1
fi
rm -rf "$out"
mkdir -p "$out/ros"
out=$(cd "$out" && pwd)
export ROS_HOME=$out/ros ROS_LOG_DIR=$out/ros/log
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export ROS_MASTER_URI=http://127.0.0.1:$port ROS_IP=127.0.0.1
unset ROS_HOSTNAME
echo "== starting a ROS master of its own at $ROS_MASTER_URI (logs in $out/ros)"
rosmaster --core -p "$port" >"$out/ros/rosmaster.log" 2>&1 &
master=$!
for _ in $(seq 100); do
  "$cen" doctor >/dev/null 2>&1 && break
  kill -0 "$master" 2>/dev/null || { echo "make run: rosmaster exited:" >&2; cat "$out/ros/rosmaster.log" >&2; exit 1; }
  sleep 0.2
done

echo "== cen doctor"
if ! "$cen" doctor; then
  echo "make run: cen doctor found a problem (above, with its fix); nothing else was run" >&2
  exit 1
fi
if [ ! -f "$model" ]; then
  echo "make run: no model at $model (the repository ships models/synthetic-lite-r18.onnx; \`make model\` trains it again)" >&2
  exit 1
fi
echo
echo "== cen synth --bag: $frames synthetic RGB-D frames at 240x320, 10 Hz"
"$cen" synth --bag "$out/input.bag" --n "$frames" --size 240x320 --seed 7
echo
echo "== cen eval --live: the node on $model, fed by rosbag play --clock"
# The bag's frames are 100 ms apart: with a 50 ms lower bound the node labels a pair when its depth comes in,
# not a frame later (the approximate policy's wait; README, node parameters).
"$cen" eval --live --master "$ROS_MASTER_URI" --ros-home "$ROS_HOME" --device "$device" --model "$model" --bag "$out/input.bag" \
  --inter-message-lower-bound 50ms --json "$out/report.json" --report "$out" --out-bag "$out/labels.bag" --samples 4
stop_master
echo
echo "== done; look at:"
echo "   $out/index.html     the report (mIoU per class, confusion matrix, samples, latency)"
echo "   $out/report.json    the same for machines"
echo "   $out/overlays/      colour, ground truth, prediction and overlay of sample frames, side by side"
echo "   $out/labels.bag     what the node published (rosbag play it and view /cen/color in rviz)"
echo "   $out/ros/log/       the logs of the master, the node and rosbag"
