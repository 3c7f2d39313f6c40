#!/usr/bin/env bash
# run.sh is `make run`: starts a rosmaster on a free port (unless ROS_MASTER_URI already answers), then runs the
# built-in default job, `cen doctor` and `cen version`, and stops the master it started.
set -euo pipefail
cd "$(dirname "$0")/.."
pid=""
if ! bin/cen doctor >/dev/null 2>&1; then
  port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  export ROS_MASTER_URI=http://127.0.0.1:$port ROS_IP=127.0.0.1 ROS_HOME=${ROS_HOME:-$(mktemp -d)}
  rosmaster --core -p "$port" >"$ROS_HOME/rosmaster.log" 2>&1 &
  pid=$!
  # A background rosmaster ignores SIGINT: stop it with SIGTERM.
  trap 'rc=$?; kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null || true; exit $rc' EXIT
  for _ in $(seq 50); do bin/cen doctor >/dev/null 2>&1 && break; sleep 0.2; done
fi
bin/cen doctor
bin/cen version
